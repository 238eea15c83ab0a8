# Labels per fidelity: read from the source's keys, or computed in chunks by a named labeller.


rule label_chunk:
    input:
        unpack(label_chunk_inputs),
    output:
        frames=paths.label_chunk(),
        report=paths.label_chunk(suffix="report.json"),
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
        paths.log("{dataset}", "label", "{fidelity}", "{part}.{chunk}"),
    benchmark:
        paths.benchmark("{dataset}", "label", "{fidelity}", "{part}.{chunk}")
    shell:
        "{params.mftl} label --input {input.frames:q} --fidelity {wildcards.fidelity} {params.args}"
        " --chunk {wildcards.chunk} --threads {threads} --out {output.frames:q} --report {output.report:q}"
        " > {log:q} 2>&1"


rule collect_labels:
    localrule: True
    input:
        unpack(labelled_chunks),
    output:
        frames=paths.labelled(),
        report=paths.labelled(suffix="report.json"),
    params:
        mftl=MFTL,
        args=collect_args,
    conda:
        "../../envs/labelling.yaml"
    log:
        paths.log("{dataset}", "collect", "{part}.{fidelity}"),
    shell:
        "{params.mftl} collect {input.frames:q} --reports {input.reports:q} --fidelity {wildcards.fidelity}"
        " {params.args} --out {output.frames:q} --report {output.report:q} > {log:q} 2>&1"


rule atom_energies:
    input:
        unpack(atom_energies_inputs),
    output:
        paths.atom_energies(),
    params:
        mftl=MFTL,
        args=atom_energies_args,
    threads: 1
    resources:
        mem_mb=job_memory_mb,
        runtime=labelling_runtime,
    conda:
        labeller_env
    log:
        paths.log("{dataset}", "atoms.{fidelity}"),
    benchmark:
        paths.benchmark("{dataset}", "atoms.{fidelity}")
    shell:
        "{params.mftl} atom-energies {params.args} --structures {input.frames:q} --threads {threads}"
        " --out {output:q} > {log:q} 2>&1"


rule e0_prior:
    localrule: True
    input:
        unpack(e0_prior_inputs),
    output:
        paths.e0_prior(),
    params:
        mftl=MFTL,
        low_fidelity=low_fidelity,
    conda:
        "../../envs/labelling.yaml"
    log:
        paths.log("{dataset}", "prior.{fidelity}"),
    shell:
        "{params.mftl} e0-prior --atoms {input.atoms:q} --low-atoms {input.low_atoms:q} --low-pool {input.low_pool:q}"
        " --low-fidelity {params.low_fidelity:q} --out {output:q} > {log:q} 2>&1"
