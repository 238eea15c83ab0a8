#!/usr/bin/env bash
# Regenerate the pictures of the workflow's shape: which rules feed which, for the
# default (demo) campaign and the paper's (config/paper.yaml), targets `all` and `all_figures`.
#
#   docs/make_rulegraphs.sh            # both: docs/rulegraph_demo.svg, docs/rulegraph_paper.svg
#   docs/make_rulegraphs.sh paper      # one of them
#
# Needs Graphviz's `dot` (Debian: apt-get install graphviz). The demo graph needs
# resources/demo/demo.extxyz to exist (`mftl demo-data` writes it); nothing is run.
# The paper graph replaces the default config (--replace-workflow-config) instead of
# extending it, so the demo dataset is not part of it.
set -euo pipefail
cd "$(dirname "$0")/.."
SNAKEMAKE=${SNAKEMAKE:-.venv/bin/snakemake}

rulegraph() {  # rulegraph NAME [snakemake options...]
    local name=$1
    shift
    "$SNAKEMAKE" --rulegraph --quiet all "$@" -- all all_figures | dot -Tsvg > "docs/rulegraph_${name}.svg.tmp"
    mv "docs/rulegraph_${name}.svg.tmp" "docs/rulegraph_${name}.svg"
    echo "wrote docs/rulegraph_${name}.svg"
}

for which in "${@:-demo paper}"; do
    for name in $which; do
        case $name in
            demo) rulegraph demo ;;
            paper) rulegraph paper --configfile config/paper.yaml --replace-workflow-config ;;
            *) echo "unknown rule graph '$name' (demo or paper)" >&2; exit 2 ;;
        esac
    done
done
