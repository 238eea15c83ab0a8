# The pre-training pool sampled by the low fidelity (pretrain_sampling): Langevin MD from the training
# pool's configurations, one job per chunk of trajectories; rule collect joins the chunks to the pool.


include: "inputs/sample.smk"


rule sample:
    input:
        unpack(sample_inputs),
    output:
        frames=paths.sample_chunk(),
        report=paths.sample_chunk(suffix="report.json"),
    log:
        paths.log("{dataset}", "sample", "{fidelity}.{chunk}"),
    benchmark:
        paths.benchmark("{dataset}", "sample", "{fidelity}", "{chunk}")
    conda:
        labeller_env
    threads: 1
    resources:
        mem_mb=job_memory_mb,
        runtime=cpu_job_runtime,
    params:
        mftl=MFTL,
        args=sample_args,
    shell:
        "{params.mftl} sample --starts {input.starts:q} --split-ids {input.ids:q} --fidelity {wildcards.fidelity}"
        " {params.args} --chunk {wildcards.chunk} --threads {threads} --out {output.frames:q}"
        " --report {output.report:q} > {log:q} 2>&1"
