# Figures and tables of the paper, drawn from result tables. `snakemake figures` makes every
# figure the config allows (PNG and PDF) and summary.csv for each dataset. Every rule here is a
# localrule: it runs in the Snakemake process, never as a cluster job.


localrules:
    fetch_foundation,


rule figures:
    localrule: True
    input:
        figure_targets(),
    params:
        mftl=MFTL,
        skipped=skipped_figure_notes,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.campaign_log("figures"),
    shell:
        "{params.mftl} figure-notes --skipped {params.skipped:q} 2>&1 | tee {log:q}"


rule learning_curves:
    localrule: True
    input:
        paths.dataset_file(name="curves.csv"),
    output:
        png=report(
            paths.figure(name="learning_curves", ext="png"),
            caption="../report/learning_curves.rst",
            category="Learning curves",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="learning_curves", ext="pdf"),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "learning_curves"),
    shell:
        "{params.mftl} figure --kind learning_curves --curves {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule summary:
    localrule: True
    input:
        paths.dataset_file(name="curves.csv"),
    output:
        report(
            paths.dataset_file(name="summary.csv"),
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "summary"),
    shell:
        "{params.mftl} summary --curves {input:q} --out {output:q} > {log:q} 2>&1"


rule fidelity_comparison_table:
    localrule: True
    input:
        unpack(fidelity_test_labels),
    output:
        table="results/{dataset}/tables/fidelity_comparison.csv",
        outliers="results/{dataset}/tables/fidelity_outliers.csv",
    params:
        mftl=MFTL,
        high=high_fidelity,
        low=low_fidelity,
        compare=fidelity_table_args,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "fidelity_comparison_table"),
    shell:
        "{params.mftl} fidelity-table --high {input.high:q} --low {input.low:q} --high-fidelity {params.high:q}"
        " --low-fidelity {params.low:q} {params.compare} --out {output.table:q} --outliers {output.outliers:q}"
        " > {log:q} 2>&1"


rule fidelity_comparison:
    localrule: True
    input:
        paths.table(name="fidelity_comparison"),
    output:
        png=report(
            paths.figure(name="fidelity_comparison", ext="png"),
            caption="../report/fidelity_comparison.rst",
            category="Fidelity comparison",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="fidelity_comparison", ext="pdf"),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "fidelity_comparison"),
    shell:
        "{params.mftl} figure --kind fidelity_comparison --table {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule error_vs_epoch_cap:
    localrule: True
    input:
        paths.dataset_file(name="curves.csv"),
    output:
        png=report(
            paths.figure(name="error_vs_epoch_cap", ext="png"),
            caption="../report/error_vs_epoch_cap.rst",
            category="Error vs epoch cap",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="error_vs_epoch_cap", ext="pdf"),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "error_vs_epoch_cap"),
    shell:
        "{params.mftl} figure --kind error_vs_epoch_cap --curves {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule delta_vs_single_fidelity:
    localrule: True
    input:
        paths.dataset_file(name="curves.csv"),
    output:
        png=report(
            paths.figure(name="delta_vs_single_fidelity", ext="png"),
            caption="../report/delta_vs_single_fidelity.rst",
            category="Delta-learning vs single fidelity",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="delta_vs_single_fidelity", ext="pdf"),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "delta_vs_single_fidelity"),
    shell:
        "{params.mftl} figure --kind delta_vs_single_fidelity --curves {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule fidelity_chain:
    localrule: True
    input:
        paths.dataset_file(name="curves.csv"),
    output:
        png=report(
            paths.figure(name="fidelity_chain", ext="png"),
            caption="../report/fidelity_chain.rst",
            category="Fidelity chain",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="fidelity_chain", ext="pdf"),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "fidelity_chain"),
    shell:
        "{params.mftl} figure --kind fidelity_chain --curves {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule costs:
    localrule: True
    input:
        unpack(costs_inputs),
        curves=paths.dataset_file(name="curves.csv"),
    output:
        report(
            paths.dataset_file(name="costs.csv"),
            caption="../report/costs.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        mftl=MFTL,
        config=costs_config,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "costs"),
    shell:
        "{params.mftl} costs --curves {input.curves:q} --config {params.config} --out {output:q} > {log:q} 2>&1"


rule cost_figure:
    localrule: True
    input:
        paths.dataset_file(name="costs.csv"),
    output:
        png=report(
            paths.figure(name="cost", ext="png"),
            caption="../report/cost.rst",
            category="Cost",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="cost", ext="pdf"),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "cost_figure"),
    shell:
        "{params.mftl} figure --kind cost --table {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule pretraining_fidelity:
    localrule: True
    input:
        pretraining_fidelity_curves,
    output:
        png=report(
            paths.figure(name="pretraining_fidelity", ext="png"),
            caption="../report/pretraining_fidelity.rst",
            category="Pre-training fidelity",
            subcategory="{dataset}",
        ),
        pdf=paths.figure(name="pretraining_fidelity", ext="pdf"),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.log("{dataset}", "pretraining_fidelity"),
    shell:
        "{params.mftl} figure --kind pretraining_fidelity --table {input:q} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule paper_comparison:
    localrule: True
    input:
        curves=paths.campaign_file("curves.csv"),
        paper=paper_results_file,
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
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        paths.campaign_log("paper_comparison"),
    shell:
        "{params.mftl} paper-comparison --curves {input.curves:q} --paper {input.paper:q} --out {output.table:q}"
        " --figure {output.png:q} {output.pdf:q} > {log:q} 2>&1"
