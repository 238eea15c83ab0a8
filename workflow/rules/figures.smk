# Figures and tables of the paper, drawn from result tables. `snakemake all_figures` makes every
# figure the config allows (PNG and PDF) and summary.csv for each dataset. Every rule here is a
# localrule: it runs in the Snakemake process, never as a cluster job.


include: "inputs/figures.smk"


rule all_figures:
    input:
        campaign.figure_targets(),
    log:
        paths.campaign_log("all_figures"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        skipped=skipped_figure_notes,
    shell:
        "{params.mftl} figure-notes --skipped {params.skipped:q} 2>&1 | tee {log:q}"


rule figure:
    input:
        table=figure_table,
        validation=figure_validation,
        baseline=figure_baseline,
        pretrain_curve=figure_pretrain_curve,
    output:
        png=report(
            paths.figure(ext="png"),
            caption="../report/figure.rst",
            category=figure_category,
            subcategory="{dataset}",
        ),
        pdf=paths.figure(ext="pdf"),
    log:
        paths.log("{dataset}", "{figure}"),
    wildcard_constraints:
        figure="|".join(FIGURES),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        validation=figure_validation_option,
        baseline=figure_baseline_option,
        pretrain_curve=figure_pretrain_curve_option,
    shell:
        "{params.mftl} figure --kind {wildcards.figure} --table {input.table:q} {params.validation}"
        " {params.baseline} {params.pretrain_curve} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


# Fig. S1's table: the pre-trained models' low-fidelity test RMSE per cap beside the fine-tuned models'
# high-fidelity test RMSE, and the pre-training runs' validation curves per epoch up to the largest cap
# (drawn by the rule figure as negative_transfer).
rule negative_transfer_table:
    input:
        pretrained=pretrained_evaluations,
        curves=paths.dataset_file(name="curves.csv"),
    output:
        table=paths.table(name="negative_transfer"),
        curve=paths.table(name="pretrain_validation"),
    log:
        paths.log("{dataset}", "negative_transfer_table"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
    shell:
        "{params.mftl} negative-transfer-table --pretrained {input.pretrained:q} --curves {input.curves:q}"
        " --out {output.table:q} --pretrain-curve {output.curve:q} > {log:q} 2>&1"


rule summary:
    input:
        paths.dataset_file(name="curves.csv"),
    output:
        report(
            paths.dataset_file(name="summary.csv"),
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    log:
        paths.log("{dataset}", "summary"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
    shell:
        "{params.mftl} summary --curves {input:q} --out {output:q} > {log:q} 2>&1"


rule fidelity_comparison_table:
    input:
        unpack(fidelity_comparison_inputs),
    output:
        table=paths.table(name="fidelity_comparison"),
        outliers=paths.table(name="fidelity_outliers"),
        statistics=report(
            paths.table(name="fidelity_statistics"),
            caption="../report/fidelity_statistics.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    log:
        paths.log("{dataset}", "fidelity_comparison_table"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        high=high_fidelity,
        low=low_fidelity,
        compare=fidelity_comparison_args,
    shell:
        "{params.mftl} fidelity-comparison-table --high {input.high:q} --low {input.low:q} --high-fidelity {params.high:q}"
        " --low-fidelity {params.low:q} {params.compare} --out {output.table:q} --outliers {output.outliers:q}"
        " --statistics {output.statistics:q} > {log:q} 2>&1"


rule costs:
    input:
        unpack(cost_records),
        curves=paths.dataset_file(name="curves.csv"),
    output:
        report(
            paths.dataset_file(name="costs.csv"),
            caption="../report/costs.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    log:
        paths.log("{dataset}", "costs"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        config=costs_config,
    shell:
        "{params.mftl} costs --curves {input.curves:q} --config {params.config} --out {output:q} > {log:q} 2>&1"


rule pretraining_fidelity:
    input:
        curves=pretraining_fidelity_curves,
        validation=pretraining_fidelity_validation,
        baseline=pretraining_fidelity_baseline,
    output:
        png=report(
            paths.figure(name="pretraining_fidelity", ext="png"),
            caption="../report/pretraining_fidelity.rst",
            category="Pre-training fidelity",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="pretraining_fidelity", ext="pdf"),
    log:
        paths.log("{dataset}", "pretraining_fidelity"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        validation=pretraining_fidelity_validation_option,
        baseline=pretraining_fidelity_baseline_option,
    shell:
        "{params.mftl} figure --kind pretraining_fidelity --table {input.curves:q} {params.validation}"
        " {params.baseline} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule paper_comparison:
    input:
        curves=paths.campaign_file("curves.csv"),
        paper=paper_results_file,
        validation=paper_validation_curves,
        fidelity=paper_fidelity_tables,
    output:
        table=report(
            paths.campaign_file("paper_comparison.csv"),
            caption="../report/paper_comparison.rst",
            category="Paper comparison",
        ),
        png=report(
            paths.campaign_file("figures/paper_comparison.png"),
            caption="../report/paper_comparison.rst",
            category="Paper comparison",
        ),
        pdf=paths.campaign_file("figures/paper_comparison.pdf"),
    log:
        paths.campaign_log("paper_comparison"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        tables=paper_comparison_args,
    shell:
        "{params.mftl} paper-comparison --curves {input.curves:q} --paper {input.paper:q} --out {output.table:q}"
        " --validation {input.validation:q} {params.tables} --figure {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule report_page:
    input:
        report_page_inputs,
    output:
        page=paths.campaign_file("report.rst"),
        warnings=paths.campaign_file("warnings.txt"),
    log:
        paths.campaign_log("report_page"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        config=costs_config,
    shell:
        "{params.mftl} report-page --config {params.config} --out {output.page:q} --warnings {output.warnings:q}"
        " > {log:q} 2>&1"


# ---- from curves to decisions: fits, data efficiency, cost to target, advice -------------


rule decision_tables:
    input:
        unpack(decision_statistics),
        curves=paths.dataset_file(name="curves.csv"),
        costs=paths.dataset_file(name="costs.csv"),
    output:
        fits=report(
            paths.table(name="learning_curve_fits"),
            caption="../report/decisions.rst",
            category="Decisions",
            subcategory="{dataset}",
        ),
        efficiency=report(
            paths.table(name="data_efficiency"),
            caption="../report/decisions.rst",
            category="Decisions",
            subcategory="{dataset}",
        ),
        cost=report(
            paths.table(name="cost_to_target"),
            caption="../report/decisions.rst",
            category="Decisions",
            subcategory="{dataset}",
        ),
    log:
        paths.log("{dataset}", "decision_tables"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        config=decision_config,
        statistics=decision_statistics_option,
    shell:
        "{params.mftl} decision-tables --curves {input.curves:q} --costs {input.costs:q}"
        " --dataset-config {params.config} {params.statistics} --fits {output.fits:q} --efficiency {output.efficiency:q}"
        " --cost-to-target {output.cost:q} > {log:q} 2>&1"


rule cost_to_target_figure:
    input:
        paths.table(name="cost_to_target"),
    output:
        png=report(
            paths.figure(name="cost_to_target", ext="png"),
            caption="../report/decisions.rst",
            category="Decisions",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="cost_to_target", ext="pdf"),
    log:
        paths.log("{dataset}", "cost_to_target_figure"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
    shell:
        "{params.mftl} figure --kind cost_to_target --table {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


# the advice flags a route unstable in MD from tables/stability.csv (where the dataset checks stability);
# the advice's first line is the low fidelity alone (tables/fidelity_statistics.csv, where the dataset has one),
# read through learning_curve_fits.csv, which decision_tables writes from it
rule advice:
    input:
        unpack(decision_statistics),
        tables=[paths.table(name=name) for name in paths.DECISION_TABLES],
        stability=advice_stability,
    output:
        report(
            paths.dataset_file(name="advice.txt"),
            caption="../report/decisions.rst",
            category="Decisions",
            subcategory="{dataset}",
        ),
    log:
        paths.log("{dataset}", "advice"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
        folder=advice_folder,
    shell:
        "{params.mftl} advice {params.folder:q} --out {output:q} > {log:q} 2>&1"


# ---- stability of the trained models: MD, short-range repulsion, forgetting (rule stability) -------------


rule stability_table:
    input:
        stability_results,
    output:
        report(
            paths.table(name="stability"),
            caption="../report/stability.rst",
            category="Decisions",
            subcategory="{dataset}",
        ),
    log:
        paths.log("{dataset}", "stability_table"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
    shell:
        "{params.mftl} stability-table {input:q} --out {output:q} > {log:q} 2>&1"


rule stability_figure:
    input:
        paths.table(name="stability"),
    output:
        png=report(
            paths.figure(name="stability", ext="png"),
            caption="../report/stability.rst",
            category="Decisions",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="stability", ext="pdf"),
    log:
        paths.log("{dataset}", "stability_figure"),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        mftl=MFTL,
    shell:
        "{params.mftl} figure --kind stability --table {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"
