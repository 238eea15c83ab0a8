# MACE training: low-fidelity pre-training, high-fidelity fine-tuning (mftl), from scratch, Delta,
# foundation models (naive and multi-head) and fidelity chains.


rule pretrain:
    input:
        pool=lf_pretrain_pool,
        prior=lf_prior,
    output:
        "results/{dataset}/pretrain/p{pretrain}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=pretrain_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/pretrain/p{pretrain}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/pretrain/p{pretrain}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --size {wildcards.pretrain} --seed {wildcards.seed}"
        " {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/pretrain/p{wildcards.pretrain}_s{wildcards.seed} > {log:q} 2>&1"


rule finetune:
    input:
        unpack(hf_train_inputs),
        pretrained=pretrained_run,
    output:
        "results/{dataset}/models/mftl/p{pretrain}_e{cap}_n{size}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=finetune_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/mftl/p{pretrain}_e{cap}_n{size}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/mftl/p{pretrain}_e{cap}_n{size}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --valid {input.valid:q} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --init-from results/{wildcards.dataset}/pretrain/p{wildcards.pretrain}_s{wildcards.seed}"
        " --init-cap {wildcards.cap} --out-dir results/{wildcards.dataset}/models/mftl/p{wildcards.pretrain}_e{wildcards.cap}_n{wildcards.size}_s{wildcards.seed}"
        " > {log:q} 2>&1"


rule scratch:
    input:
        unpack(hf_train_inputs),
    output:
        "results/{dataset}/models/scratch/n{size}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=scratch_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/scratch/n{size}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/scratch/n{size}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --valid {input.valid:q} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/models/scratch/n{wildcards.size}_s{wildcards.seed} > {log:q} 2>&1"


rule delta:
    input:
        unpack(hf_train_inputs),
        unpack(delta_base_inputs),
    output:
        "results/{dataset}/models/delta/n{size}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=delta_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/delta/n{size}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/delta/n{size}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --valid {input.valid:q} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --base-pool {input.base_pool:q} --base-valid {input.base_valid:q}"
        " --out-dir results/{wildcards.dataset}/models/delta/n{wildcards.size}_s{wildcards.seed} > {log:q} 2>&1"


# ---- foundation models ----------------------------------------------------------------


rule fetch_foundation:
    output:
        "resources/foundations/{foundation}.model",
    params:
        mftl=MFTL,
        name=foundation_download_name,
    retries: 2
    conda:
        "../../envs/training.yaml"
    log:
        "resources/foundations/logs/{foundation}.log",
    shell:
        "{params.mftl} fetch-foundation --name {params.name:q} --out {output:q} > {log:q} 2>&1"


rule foundation:
    input:
        unpack(hf_train_inputs),
        foundation=foundation_input,
    output:
        "results/{dataset}/models/foundation/{foundation}_n{size}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=foundation_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/foundation/{foundation}_n{size}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/foundation/{foundation}_n{size}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --valid {input.valid:q} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/models/foundation/{wildcards.foundation}_n{wildcards.size}_s{wildcards.seed} > {log:q} 2>&1"


rule foundation_multihead:
    input:
        unpack(hf_train_inputs),
        foundation=foundation_input,
    output:
        "results/{dataset}/models/foundation_multihead/{foundation}_n{size}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=multihead_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/foundation_multihead/{foundation}_n{size}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/foundation_multihead/{foundation}_n{size}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --valid {input.valid:q} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/models/foundation_multihead/{wildcards.foundation}_n{wildcards.size}_s{wildcards.seed}"
        " > {log:q} 2>&1"


# ---- fidelity chains (named: chain_<name>): each stage fine-tunes the previous stage's model ----


rule chain_stage:
    input:
        unpack(chain_stage_inputs),
    output:
        "results/{dataset}/chain_{chain}/stage{stage}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=chain_stage_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/chain_{chain}/stage{stage}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/chain_{chain}/stage{stage}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --valid {input.valid:q} --seed {wildcards.seed}"
        " {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/chain_{wildcards.chain}/stage{wildcards.stage}_s{wildcards.seed}"
        " > {log:q} 2>&1"


rule chain:
    input:
        unpack(hf_train_inputs),
        previous=chain_previous,
    output:
        "results/{dataset}/models/chain_{chain}/n{size}_s{seed}/training.json",
    params:
        mftl=MFTL,
        args=chain_args,
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    conda:
        "../../envs/training.yaml"
    log:
        "results/{dataset}/logs/chain_{chain}/n{size}_s{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/chain_{chain}/n{size}_s{seed}.tsv"
    shell:
        "{params.mftl} train --train-pool {input.pool:q} --valid {input.valid:q} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/models/chain_{wildcards.chain}/n{wildcards.size}_s{wildcards.seed}"
        " > {log:q} 2>&1"
