# Figures drawn from result tables.

localrules:
    fetch,
    split,
    collect_labels,
    curves,
    select_cap,
    learning_curves,


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
    conda:
        "../../envs/analysis.yaml"
    log:
        "results/{dataset}/logs/learning_curves.log",
    shell:
        "{MFTL} plot --curves {input} --title {wildcards.dataset} --out {output.png} {output.pdf} > {log} 2>&1"
