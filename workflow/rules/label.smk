# Labels per fidelity: read from the source's keys, or computed in chunks by a named labeller.


rule label_chunk:
    input:
        unpack(label_chunk_inputs),
    output:
        frames="results/{dataset}/labels/chunks/{fidelity}/{part}.{chunk}.extxyz",
        report="results/{dataset}/labels/chunks/{fidelity}/{part}.{chunk}.report.json",
    params:
        mftl=MFTL,
        args=label_args,
    threads: 1
    resources:
        mem_mb=job_memory_mb,
        runtime=labelling_runtime,
    conda:
        labeller_env
    log:
        "results/{dataset}/logs/label/{fidelity}/{part}.{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/label/{fidelity}/{part}.{chunk}.tsv"
    shell:
        "{params.mftl} label --input {input.frames:q} --fidelity {wildcards.fidelity} {params.args}"
        " --chunk {wildcards.chunk} --threads {threads} --out {output.frames:q} --report {output.report:q}"
        " > {log:q} 2>&1"


rule collect_labels:
    input:
        unpack(labelled_chunks),
    output:
        frames="results/{dataset}/labels/{part}.{fidelity}.extxyz",
        report="results/{dataset}/labels/{part}.{fidelity}.report.json",
    params:
        mftl=MFTL,
        args=collect_args,
    conda:
        "../../envs/labelling.yaml"
    log:
        "results/{dataset}/logs/collect/{part}.{fidelity}.log",
    shell:
        "{params.mftl} collect {input.frames:q} --reports {input.reports:q} --fidelity {wildcards.fidelity}"
        " {params.args} --out {output.frames:q} --report {output.report:q} > {log:q} 2>&1"
