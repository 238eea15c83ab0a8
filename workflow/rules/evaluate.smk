# Test-set errors of every trained model, zero-shot errors of foundation models, and the tidy
# learning-curve table.


include: "inputs/evaluate.smk"


rule evaluate:
    input:
        unpack(eval_inputs),
    output:
        paths.evaluation(),
    log:
        paths.log("{dataset}", "eval", "{method}", "{tag}"),
    benchmark:
        paths.benchmark("{dataset}", "eval", "{method}", "{tag}")
    conda:
        "../../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=EVALUATION_MEMORY_MB,
        runtime=EVALUATION_RUNTIME_MIN,
    params:
        mftl=MFTL,
        args=eval_args,
    shell:
        "{params.mftl} evaluate --model-dir $(dirname {input.model:q}) --test {input.test:q} {params.args}"
        " --threads {threads} --out {output:q} > {log:q} 2>&1"


# The validation-set errors of a model (mftl_auto chooses its epoch cap on them): `evaluate` on the
# validation set.
use rule evaluate as evaluate_validation with:
    input:
        unpack(validation_inputs),
    output:
        paths.evaluation(kind="valid"),
    log:
        paths.log("{dataset}", "valid", "{method}", "{tag}"),
    benchmark:
        paths.benchmark("{dataset}", "valid", "{method}", "{tag}")
    params:
        args=validation_args,


rule select_cap:
    input:
        unpack(auto_cap_inputs),
    output:
        paths.evaluation(method="mftl_auto", tag=paths.auto_tag()),
    log:
        paths.log("{dataset}", "select_cap", paths.auto_tag()),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        metadata=auto_cap_metadata,
    shell:
        "{params.mftl} select-cap --valid {input.valid:q} --test {input.test:q} --metadata {params.metadata:q}"
        " --out {output:q} > {log:q} 2>&1"


rule curves:
    input:
        evaluation_results,
    output:
        curves=report(
            paths.dataset_file(name="curves.csv"),
            caption="../report/curves.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
        by_molecule=report(
            paths.table(name="errors_by_molecule"),
            caption="../report/errors_by_molecule.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    log:
        paths.log("{dataset}", "curves"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
    shell:
        "{params.mftl} curves {input:q} --out {output.curves:q} --by-molecule {output.by_molecule:q} > {log:q} 2>&1"


rule campaign_curves:
    input:
        dataset_curves,
    output:
        paths.campaign_file("curves.csv"),
    log:
        paths.campaign_log("curves"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
    shell:
        "{params.mftl} campaign-curves {input:q} --out {output:q} > {log:q} 2>&1"


# The pre-trained model as served at one epoch cap (what a fine-tuning with that cap starts from), on the
# low-fidelity labels of the test set: the low-fidelity side of fig. S1 (negative transfer).
use rule evaluate as evaluate_pretrained with:
    input:
        unpack(pretrained_cap_inputs),
    output:
        paths.evaluation(method="pretrain", tag=paths.pretrain_cap_tag(), kind="eval_lf"),
    log:
        paths.log("{dataset}", "eval_lf", "pretrain", paths.pretrain_cap_tag()),
    benchmark:
        paths.benchmark("{dataset}", "eval_lf", "pretrain", paths.pretrain_cap_tag())
    params:
        args=pretrained_cap_args,


# The validation errors of the candidates in one table with the columns of curves.csv (and per molecule; paper_comparison
# chooses by them, never by the test errors).
use rule curves as validation_curves with:
    input:
        validation_results,
    output:
        curves=paths.dataset_file(name="valid_curves.csv"),
        by_molecule=paths.table(name="valid_errors_by_molecule"),
    log:
        paths.log("{dataset}", "valid_curves"),


rule zeroshot:
    input:
        model=foundation_needs,
        test=comparison_high,
    output:
        result=paths.evaluation(method="foundation_zeroshot", tag="{foundation}"),
        predictions=paths.zeroshot_predictions(),
    log:
        paths.log("{dataset}", "eval", "foundation_zeroshot", "{foundation}"),
    benchmark:
        paths.benchmark("{dataset}", "eval", "foundation_zeroshot", "{foundation}")
    conda:
        "../../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=EVALUATION_MEMORY_MB,
        runtime=EVALUATION_RUNTIME_MIN,
    params:
        mftl=MFTL,
        model=foundation_model,
        args=zeroshot_args,
    shell:
        "{params.mftl} zeroshot --model {params.model:q} --test {input.test:q} {params.args} --threads {threads}"
        " --predictions {output.predictions:q} --out {output.result:q} > {log:q} 2>&1"


# The stability checks of one trained model (mftl.evaluation.stability_job): MD from test configurations,
# short-range repulsion of element pairs, forgetting of the starting model's data. A CPU job (one core);
# the SLURM profile packs several into one job (group stability).
rule stability:
    input:
        unpack(stability_inputs),
    output:
        paths.stability(),
    log:
        paths.log("{dataset}", "stability", "{method}", "{tag}"),
    benchmark:
        paths.benchmark("{dataset}", "stability", "{method}", "{tag}")
    conda:
        "../../envs/stability.yaml"
    threads: 1
    resources:
        mem_mb=EVALUATION_MEMORY_MB,
        runtime=STABILITY_RUNTIME_MIN,
    params:
        mftl=MFTL,
        args=stability_args,
    shell:
        "{params.mftl} stability --model-dir $(dirname {input.model:q}) --test {input.test:q} {params.args}"
        " --threads {threads} --out {output:q} > {log:q} 2>&1"
