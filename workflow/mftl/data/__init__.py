"""Data: structures and their labels, before any training.

extxyz I/O and label checks (:mod:`~mftl.data.structures`), sources converted to that convention
(:mod:`~mftl.data.sources`), labelling backends (:mod:`~mftl.data.labellers`), datasets and fidelities
(:mod:`~mftl.data.datasets`), seeded splits (:mod:`~mftl.data.splits`), element coverage
(:mod:`~mftl.data.elements`), per-fidelity E0s
(:mod:`~mftl.data.reference_energies`) and the demo data generator (:mod:`~mftl.data.demo`).
"""
