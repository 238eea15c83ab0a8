"""Training: one MACE training as one job, run by mace-torch.

The job (:mod:`~mftl.training.training_job`) and its steps (:mod:`~mftl.training.steps`, ``mftl train``);
mace's command lines (:mod:`~mftl.training.mace_commands`), the data on each fidelity's E0 scale
(:mod:`~mftl.training.e0_scale`), running mace in this process (:mod:`~mftl.training.mace_runner`), mace's
flags checked by its own parser (:mod:`~mftl.training.mace_options`) and its results file
(:mod:`~mftl.training.mace_results`); checkpoints per epoch cap (:mod:`~mftl.training.checkpoints`),
resuming (:mod:`~mftl.training.resume`), foundation models (:mod:`~mftl.training.foundations`) and
fidelity chains (:mod:`~mftl.training.chains`).
"""
