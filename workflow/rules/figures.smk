# Figures and tables of the paper, drawn from result tables. `snakemake figures` makes every
# figure the config allows (PNG and PDF) and summary.csv for each dataset.




localrules:
    fetch,
    fetch_foundation,
    split,
    collect_labels,
    curves,
    campaign_curves,
    select_cap,
    learning_curves,
    summary,
    fidelity_comparison_table,
    fidelity_comparison,
    error_vs_epoch_cap,
    delta_vs_single_fidelity,
    fidelity_chain,
    costs,
    cost_figure,
    pretraining_fidelity,
    paper_comparison,
    figures,


rule figures:
    input:
        figure_targets(),
    params:
        mftl=MFTL,
        skipped=skipped_figure_notes,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/logs/figures.log",
    shell:
        "{params.mftl} figure-notes --skipped {params.skipped:q} 2>&1 | tee {log:q}"


rule learning_curves:
    input:
        "results/{dataset}/curves.csv",
    output:
        png=report(
            "results/{dataset}/figures/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Learning curves",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/learning_curves.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/learning_curves.log",
    shell:
        "{params.mftl} plot --curves {input:q} --title {wildcards.dataset} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule summary:
    input:
        "results/{dataset}/curves.csv",
    output:
        report(
            "results/{dataset}/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/summary.log",
    shell:
        "{params.mftl} summary --curves {input:q} --out {output:q} > {log:q} 2>&1"


rule fidelity_comparison_table:
    input:
        unpack(fidelity_test_labels),
    output:
        "results/{dataset}/tables/fidelity_comparison.csv",
    params:
        mftl=MFTL,
        high=high_fidelity,
        low=low_fidelity,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/fidelity_comparison_table.log",
    shell:
        "{params.mftl} fidelity-table --high {input.high:q} --low {input.low:q} --high-fidelity {params.high:q}"
        " --low-fidelity {params.low:q} --out {output:q} > {log:q} 2>&1"


rule fidelity_comparison:
    input:
        "results/{dataset}/tables/fidelity_comparison.csv",
    output:
        png=report(
            "results/{dataset}/figures/fidelity_comparison.png",
            caption="../report/fidelity_comparison.rst",
            category="Fidelity comparison",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/fidelity_comparison.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/fidelity_comparison.log",
    shell:
        "{params.mftl} figure --kind fidelity_comparison --table {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule error_vs_epoch_cap:
    input:
        "results/{dataset}/curves.csv",
    output:
        png=report(
            "results/{dataset}/figures/error_vs_epoch_cap.png",
            caption="../report/error_vs_epoch_cap.rst",
            category="Error vs epoch cap",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/error_vs_epoch_cap.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/error_vs_epoch_cap.log",
    shell:
        "{params.mftl} figure --kind error_vs_epoch_cap --curves {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule delta_vs_single_fidelity:
    input:
        "results/{dataset}/curves.csv",
    output:
        png=report(
            "results/{dataset}/figures/delta_vs_single_fidelity.png",
            caption="../report/delta_vs_single_fidelity.rst",
            category="Delta-learning vs single fidelity",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/delta_vs_single_fidelity.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/delta_vs_single_fidelity.log",
    shell:
        "{params.mftl} figure --kind delta_vs_single_fidelity --curves {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule fidelity_chain:
    input:
        "results/{dataset}/curves.csv",
    output:
        png=report(
            "results/{dataset}/figures/fidelity_chain.png",
            caption="../report/fidelity_chain.rst",
            category="Fidelity chain",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/fidelity_chain.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/fidelity_chain.log",
    shell:
        "{params.mftl} figure --kind fidelity_chain --curves {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule costs:
    input:
        "results/{dataset}/curves.csv",
    output:
        report(
            "results/{dataset}/costs.csv",
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
        "results/{dataset}/logs/costs.log",
    shell:
        "{params.mftl} costs --curves {input:q} --config {params.config} --out {output:q} > {log:q} 2>&1"


rule cost_figure:
    input:
        "results/{dataset}/costs.csv",
    output:
        png=report(
            "results/{dataset}/figures/cost.png",
            caption="../report/cost.rst",
            category="Cost",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/cost.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/cost_figure.log",
    shell:
        "{params.mftl} figure --kind cost --table {input:q} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule pretraining_fidelity:
    input:
        pretraining_fidelity_curves,
    output:
        png=report(
            "results/{dataset}/figures/pretraining_fidelity.png",
            caption="../report/pretraining_fidelity.rst",
            category="Pre-training fidelity",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/pretraining_fidelity.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/pretraining_fidelity.log",
    shell:
        "{params.mftl} figure --kind pretraining_fidelity --table {input:q} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule paper_comparison:
    input:
        curves="results/curves.csv",
        paper=paper_results_file,
    output:
        table=report(
            "results/paper_comparison.csv",
            caption="../report/paper_comparison.rst",
            category="Paper comparison",
        ),
        png=report(
            "results/figures/paper_comparison.png",
            caption="../report/paper_comparison.rst",
            category="Paper comparison",
        ),
        pdf="results/figures/paper_comparison.pdf",
    params:
        mftl=MFTL,
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/logs/paper_comparison.log",
    shell:
        "{params.mftl} paper-comparison --curves {input.curves:q} --paper {input.paper:q} --out {output.table:q}"
        " --figure {output.png:q} {output.pdf:q} > {log:q} 2>&1"
