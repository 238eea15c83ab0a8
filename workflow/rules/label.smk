# Labels per fidelity: read from the source's keys, or computed in chunks by a named labeller;
# the isolated-atom energies and E0 priors of each fidelity.


include: "inputs/label.smk"


rule label_chunk:
    input:
        unpack(label_chunk_inputs),
    output:
        frames=paths.label_chunk(),
        report=paths.label_chunk(suffix="report.json"),
    log:
        paths.log("{dataset}", "label", "{fidelity}", "{part}.{chunk}"),
    benchmark:
        paths.benchmark("{dataset}", "label", "{fidelity}", "{part}.{chunk}")
    conda:
        labeller_env
    threads: 1
    resources:
        mem_mb=job_memory_mb,
        runtime=cpu_job_runtime,
    params:
        mftl=MFTL,
        args=label_args,
    shell:
        "{params.mftl} label --input {input.frames:q} --fidelity {wildcards.fidelity} {params.args}"
        " --chunk {wildcards.chunk} --threads {threads} --out {output.frames:q} --report {output.report:q}"
        " > {log:q} 2>&1"


rule collect_labels:
    input:
        unpack(labelled_chunks),
    output:
        frames=paths.labelled(),
        report=paths.labelled(suffix="report.json"),
    log:
        paths.log("{dataset}", "collect", "{part}.{fidelity}"),
    localrule: True
    conda:
        "../../envs/labelling.yaml"
    params:
        mftl=MFTL,
        args=collect_args,
    shell:
        "{params.mftl} collect {input.frames:q} --reports {input.reports:q} --fidelity {wildcards.fidelity}"
        " {params.args} --out {output.frames:q} --report {output.report:q} > {log:q} 2>&1"


rule atom_energies:
    input:
        unpack(atom_energies_inputs),
    output:
        paths.atom_energies(),
    log:
        paths.log("{dataset}", "atoms.{fidelity}"),
    benchmark:
        paths.benchmark("{dataset}", "atoms.{fidelity}")
    conda:
        labeller_env
    threads: 1
    resources:
        mem_mb=job_memory_mb,
        runtime=cpu_job_runtime,
    params:
        mftl=MFTL,
        args=atom_energies_args,
    shell:
        "{params.mftl} atom-energies {params.args} --structures {input.frames:q} --threads {threads}"
        " --out {output:q} > {log:q} 2>&1"


rule e0_prior:
    input:
        unpack(e0_prior_inputs),
    output:
        paths.e0_prior(),
    log:
        paths.log("{dataset}", "prior.{fidelity}"),
    localrule: True
    conda:
        "../../envs/labelling.yaml"
    params:
        mftl=MFTL,
        low_fidelity=low_fidelity,
    shell:
        "{params.mftl} e0-prior --atoms {input.atoms:q} --low-atoms {input.low_atoms:q} --low-pool {input.low_pool:q}"
        " --low-fidelity {params.low_fidelity:q} --out {output:q} > {log:q} 2>&1"


# The zero-shot evaluation's and the fidelity comparison's configurations when a dataset sets comparison_sample
# (fig. 2: "150k randomly sampled configurations"): drawn from the split's parts, with both fidelities' labels.
rule comparison_sample:
    input:
        unpack(comparison_sample_inputs),
    output:
        high=paths.comparison_sample(role="high"),
        low=paths.comparison_sample(role="low"),
    log:
        paths.log("{dataset}", "comparison_sample"),
    localrule: True
    conda:
        "../../envs/labelling.yaml"
    params:
        mftl=MFTL,
        args=comparison_sample_args,
    shell:
        "{params.mftl} comparison-sample --high {input.high:q} --low {input.low:q} {params.args}"
        " --out-high {output.high:q} --out-low {output.low:q} > {log:q} 2>&1"
