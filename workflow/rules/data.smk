# Splitting a dataset's configuration space into disjoint, seeded parts.


rule split:
    input:
        dataset_source,
    output:
        test="results/{dataset}/splits/test.extxyz",
        validation="results/{dataset}/splits/validation.extxyz",
        train_pool="results/{dataset}/splits/train_pool.extxyz",
        pretrain_pool="results/{dataset}/splits/pretrain_pool.extxyz",
        ids="results/{dataset}/splits/split.json",
    params:
        args=split_args,
    conda:
        "../../envs/labelling.yaml"
    log:
        "results/{dataset}/logs/split.log",
    shell:
        "{MFTL} split --source {input} {params.args} --out-dir results/{wildcards.dataset}/splits > {log} 2>&1"
