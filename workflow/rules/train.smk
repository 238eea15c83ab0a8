# MACE training: low-fidelity pre-training, high-fidelity fine-tuning (mftl) and from scratch.


rule pretrain:
    input:
        pool=lf_pretrain_pool,
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
        "{params.mftl} train --train-pool {input.pool} --size {wildcards.pretrain} --seed {wildcards.seed}"
        " {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/pretrain/p{wildcards.pretrain}_s{wildcards.seed} > {log} 2>&1"


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
        "{params.mftl} train --train-pool {input.pool} --valid {input.valid} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --init-from results/{wildcards.dataset}/pretrain/p{wildcards.pretrain}_s{wildcards.seed}"
        " --init-cap {wildcards.cap} --out-dir results/{wildcards.dataset}/models/mftl/p{wildcards.pretrain}_e{wildcards.cap}_n{wildcards.size}_s{wildcards.seed}"
        " > {log} 2>&1"


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
        "{params.mftl} train --train-pool {input.pool} --valid {input.valid} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --out-dir results/{wildcards.dataset}/models/scratch/n{wildcards.size}_s{wildcards.seed} > {log} 2>&1"


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
        "{params.mftl} train --train-pool {input.pool} --valid {input.valid} --size {wildcards.size}"
        " --seed {wildcards.seed} {params.args} --threads {threads}"
        " --base-pool {input.base_pool} --base-valid {input.base_valid}"
        " --out-dir results/{wildcards.dataset}/models/delta/n{wildcards.size}_s{wildcards.seed} > {log} 2>&1"
