# Obtaining datasets (download, verify, convert) and splitting them into disjoint, seeded parts.


rule fetch:
    localrule: True
    output:
        paths.download_file(),
    params:
        mftl=MFTL,
        args=fetch_args,
    retries: 2
    conda:
        "../../envs/labelling.yaml"
    log:
        "resources/downloads/logs/{download}/{filename}.log",
    shell:
        "{params.mftl} fetch {params.args} --out {output:q} > {log:q} 2>&1"


rule convert:
    input:
        conversion_inputs,
    output:
        frames="resources/datasets/{dataset}.extxyz",
        summary="resources/datasets/{dataset}.summary.json",
    params:
        mftl=MFTL,
        args=conversion_args,
    threads: 1
    resources:
        mem_mb=job_memory_mb,
        runtime=labelling_runtime,
    conda:
        "../../envs/labelling.yaml"
    log:
        "resources/datasets/logs/{dataset}.log",
    benchmark:
        "resources/datasets/benchmarks/{dataset}.tsv"
    shell:
        "{params.mftl} convert {input:q} {params.args} --out {output.frames:q} --summary {output.summary:q}"
        " > {log:q} 2>&1"


rule split:
    localrule: True
    input:
        dataset_source,
    output:
        test=paths.split_file(part="test"),
        validation=paths.split_file(part="validation"),
        train_pool=paths.split_file(part="train_pool"),
        pretrain_pool=paths.split_file(part="pretrain_pool"),
        ids=paths.split_ids(),
    params:
        mftl=MFTL,
        args=split_args,
    conda:
        "../../envs/labelling.yaml"
    log:
        paths.log("{dataset}", "split"),
    shell:
        "{params.mftl} split --source {input:q} {params.args} --out-dir $(dirname {output.ids:q}) > {log:q} 2>&1"
