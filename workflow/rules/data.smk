# Obtaining datasets (download, verify, convert) and splitting them into disjoint, seeded parts.


include: "inputs/data.smk"


rule fetch:
    output:
        paths.download_file(),
    log:
        "resources/downloads/logs/{download}/{filename}.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/labelling.yaml"
    params:
        mftl=MFTL,
        args=fetch_args,
    shell:
        "{params.mftl} fetch {params.args} --out {output:q} > {log:q} 2>&1"


rule convert:
    input:
        conversion_inputs,
    output:
        frames=paths.converted_source(),
        summary=paths.conversion_summary(),
    log:
        "resources/datasets/logs/{dataset}.log",
    benchmark:
        "resources/datasets/benchmarks/{dataset}.tsv"
    conda:
        "../../envs/labelling.yaml"
    threads: 1
    resources:
        mem_mb=job_memory_mb,
        runtime=cpu_job_runtime,
    params:
        mftl=MFTL,
        args=conversion_args,
    shell:
        "{params.mftl} convert {input:q} {params.args} --out {output.frames:q} --summary {output.summary:q}"
        " > {log:q} 2>&1"


rule split:
    input:
        unpack(split_inputs),
    output:
        test=paths.split_file(part="test"),
        validation=paths.split_file(part="validation"),
        train_pool=paths.split_file(part="train_pool"),
        pretrain_pool=paths.split_file(part="pretrain_pool"),
        ids=paths.split_ids(),
    log:
        paths.log("{dataset}", "split"),
    localrule: True
    conda:
        "../../envs/labelling.yaml"
    params:
        mftl=MFTL,
        args=split_args,
    shell:
        "{params.mftl} split --source {input.source:q} {params.args} --out-dir $(dirname {output.ids:q}) > {log:q} 2>&1"
