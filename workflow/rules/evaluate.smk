# Test-set errors of every trained model, and the tidy learning-curve table.


rule evaluate:
    input:
        unpack(eval_inputs),
    output:
        "results/{dataset}/eval/{method}/{tag}.json",
    params:
        mftl=MFTL,
        args=eval_args,
    threads: 1
    resources:
        mem_mb=EVALUATION_MEMORY_MB,
        runtime=EVALUATION_RUNTIME_MIN,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/eval/{method}/{tag}.log",
    benchmark:
        "results/{dataset}/benchmarks/eval/{method}/{tag}.tsv"
    shell:
        "{params.mftl} evaluate --model-dir results/{wildcards.dataset}/models/{wildcards.method}/{wildcards.tag}"
        " --test {input.test:q} {params.args} --threads {threads} --out {output:q} > {log:q} 2>&1"


rule validate:
    input:
        unpack(validate_inputs),
    output:
        "results/{dataset}/valid/{method}/{tag}.json",
    params:
        mftl=MFTL,
        args=validate_args,
    threads: 1
    resources:
        mem_mb=EVALUATION_MEMORY_MB,
        runtime=EVALUATION_RUNTIME_MIN,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/valid/{method}/{tag}.log",
    benchmark:
        "results/{dataset}/benchmarks/valid/{method}/{tag}.tsv"
    shell:
        "{params.mftl} evaluate --model-dir results/{wildcards.dataset}/models/{wildcards.method}/{wildcards.tag}"
        " --test {input.test:q} {params.args} --threads {threads} --out {output:q} > {log:q} 2>&1"


rule select_cap:
    input:
        unpack(auto_cap_inputs),
    output:
        "results/{dataset}/eval/mftl_auto/p{pretrain}_n{size}_s{seed}.json",
    params:
        mftl=MFTL,
        metadata=auto_cap_metadata,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/select_cap/p{pretrain}_n{size}_s{seed}.log",
    shell:
        "{params.mftl} select-cap --valid {input.valid:q} --test {input.test:q} --metadata {params.metadata:q}"
        " --out {output:q} > {log:q} 2>&1"


rule curves:
    input:
        evaluation_results,
    output:
        report(
            "results/{dataset}/curves.csv",
            caption="../report/curves.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/curves.log",
    shell:
        "{params.mftl} curves {input:q} --out {output:q} > {log:q} 2>&1"


rule campaign_curves:
    input:
        dataset_curves,
    output:
        "results/curves.csv",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/logs/curves.log",
    shell:
        "{params.mftl} concat-curves {input:q} --out {output:q} > {log:q} 2>&1"
