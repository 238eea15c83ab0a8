# MACE training: low-fidelity pre-training, high-fidelity fine-tuning (mftl), from scratch, Delta,
# foundation models (naive and multi-head) and fidelity chains.
#
# Every training has one shape, the rule `scratch`: `mftl train` of the rule's training job
# (params.job: the campaign's TrainingJob as JSON: its data, the model it starts from, the options of
# its stage), in its output's folder, with a training's threads, memory and time (a GPU and CPUs on a
# cluster: profiles/slurm). The other trainings are `scratch` with their own inputs, job and paths.


include: "inputs/train.smk"


rule scratch:
    input:
        unpack(hf_train_inputs),
    output:
        paths.training_json(method="scratch", tag=paths.run_tag()),
    log:
        paths.log("{dataset}", "scratch", paths.run_tag()),
    benchmark:
        paths.benchmark("{dataset}", "scratch", paths.run_tag())
    conda:
        "../../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=training_memory_mb,
        runtime=training_runtime,
    params:
        mftl=MFTL,
        job=training_job("scratch"),
    shell:
        "{params.mftl} train --job {params.job:q} --threads {threads} --out-dir $(dirname {output:q}) > {log:q} 2>&1"


use rule scratch as pretrain with:
    input:
        unpack(pretrain_inputs),
    output:
        paths.run_json(paths.pretrain_dir()),
    log:
        paths.log("{dataset}", "pretrain", paths.pretrain_tag()),
    benchmark:
        paths.benchmark("{dataset}", "pretrain", paths.pretrain_tag())
    params:
        job=training_job("pretrain"),


use rule scratch as mftl with:
    input:
        unpack(hf_train_inputs),
        pretrained=pretraining_run,
    output:
        paths.training_json(method="mftl", tag=paths.mftl_tag()),
    log:
        paths.log("{dataset}", "mftl", paths.mftl_tag()),
    benchmark:
        paths.benchmark("{dataset}", "mftl", paths.mftl_tag())
    params:
        job=training_job("mftl"),


use rule scratch as delta with:
    input:
        unpack(hf_train_inputs),
        unpack(delta_base_inputs),
    output:
        paths.training_json(method="delta", tag=paths.run_tag()),
    log:
        paths.log("{dataset}", "delta", paths.run_tag()),
    benchmark:
        paths.benchmark("{dataset}", "delta", paths.run_tag())
    params:
        job=training_job("delta"),


# ---- foundation models ----------------------------------------------------------------


rule fetch_foundation:
    output:
        paths.foundation_file(),
    log:
        "resources/foundations/logs/{foundation}.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/training.yaml"
    params:
        mftl=MFTL,
        name=foundation_download_name,
    shell:
        "{params.mftl} fetch-foundation --name {params.name:q} --out {output:q} > {log:q} 2>&1"


use rule scratch as foundation with:
    input:
        unpack(hf_train_inputs),
        foundation=foundation_needs,
    output:
        paths.training_json(method="foundation", tag=paths.foundation_tag()),
    log:
        paths.log("{dataset}", "foundation", paths.foundation_tag()),
    benchmark:
        paths.benchmark("{dataset}", "foundation", paths.foundation_tag())
    params:
        job=training_job("foundation"),


use rule foundation as foundation_multihead with:
    input:
        unpack(hf_train_inputs),
        unpack(replay_inputs),
        foundation=foundation_needs,
    output:
        paths.training_json(method="foundation_multihead", tag=paths.foundation_tag()),
    log:
        paths.log("{dataset}", "foundation_multihead", paths.foundation_tag()),
    benchmark:
        paths.benchmark("{dataset}", "foundation_multihead", paths.foundation_tag())
    params:
        job=training_job("foundation_multihead"),


# ---- fine-tuning strategies mace ships (mftl.methods.STRATEGY_METHODS): a route's training with the strategy's
# flags in its job (training.strategies: --freeze, --lora, --pseudolabel_replay)


use rule mftl as mftl_freeze with:
    output:
        paths.training_json(method="mftl_freeze", tag=paths.mftl_tag()),
    log:
        paths.log("{dataset}", "mftl_freeze", paths.mftl_tag()),
    benchmark:
        paths.benchmark("{dataset}", "mftl_freeze", paths.mftl_tag())
    params:
        job=training_job("mftl_freeze"),


use rule mftl as mftl_lora with:
    output:
        paths.training_json(method="mftl_lora", tag=paths.mftl_tag()),
    log:
        paths.log("{dataset}", "mftl_lora", paths.mftl_tag()),
    benchmark:
        paths.benchmark("{dataset}", "mftl_lora", paths.mftl_tag())
    params:
        job=training_job("mftl_lora"),


use rule foundation as foundation_freeze with:
    output:
        paths.training_json(method="foundation_freeze", tag=paths.foundation_tag()),
    log:
        paths.log("{dataset}", "foundation_freeze", paths.foundation_tag()),
    benchmark:
        paths.benchmark("{dataset}", "foundation_freeze", paths.foundation_tag())
    params:
        job=training_job("foundation_freeze"),


use rule foundation as foundation_lora with:
    output:
        paths.training_json(method="foundation_lora", tag=paths.foundation_tag()),
    log:
        paths.log("{dataset}", "foundation_lora", paths.foundation_tag()),
    benchmark:
        paths.benchmark("{dataset}", "foundation_lora", paths.foundation_tag())
    params:
        job=training_job("foundation_lora"),


use rule foundation_multihead as foundation_pseudolabel with:
    output:
        paths.training_json(method="foundation_pseudolabel", tag=paths.foundation_tag()),
    log:
        paths.log("{dataset}", "foundation_pseudolabel", paths.foundation_tag()),
    benchmark:
        paths.benchmark("{dataset}", "foundation_pseudolabel", paths.foundation_tag())
    params:
        job=training_job("foundation_pseudolabel"),


# ---- fidelity chains (named: chain_<name>): each stage fine-tunes the previous stage's model ----


use rule scratch as chain_stage with:
    input:
        unpack(chain_stage_inputs),
    output:
        paths.run_json(paths.stage_dir(method=chains.chain_method("{chain}"))),
    log:
        paths.log("{dataset}", chains.chain_method("{chain}"), paths.stage_tag()),
    benchmark:
        paths.benchmark("{dataset}", chains.chain_method("{chain}"), paths.stage_tag())
    params:
        job=training_job("chain_stage"),


use rule scratch as chain with:
    input:
        unpack(hf_train_inputs),
        previous=chain_previous,
    output:
        paths.training_json(method=chains.chain_method("{chain}"), tag=paths.run_tag()),
    log:
        paths.log("{dataset}", chains.chain_method("{chain}"), paths.run_tag()),
    benchmark:
        paths.benchmark("{dataset}", chains.chain_method("{chain}"), paths.run_tag())
    params:
        job=training_job("chain"),
