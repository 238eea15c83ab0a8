"""Which trained models a dataset's stability checks cover and what each check reads (issue 33).

A dataset's ``stability`` key (schema defaults filled by :func:`mftl.planning.config.check_config`; its fields are
:class:`mftl.evaluation.stability_settings.StabilitySettings`) turns the checks on or off and chooses the training
sizes; every trained route's runs at those sizes, every seed, get one stability job (rule ``stability``). The
functions take the :class:`mftl.planning.campaign.Campaign` that delegates to them (``campaign``).

Start data (forgetting): the test labels of the data the model's starting model was trained on, where the
campaign has them: the dataset's low fidelity for the fine-tunings of its pre-trained models, the high fidelity
of the dataset a ``trained_by`` foundation was trained on, the last stage of a chain; none for scratch and Delta
models or for a foundation from outside the campaign.
"""

from __future__ import annotations

from collections.abc import Mapping

from mftl import paths
from mftl.methods import FOUNDATION_FINETUNINGS, PRETRAINED_FINETUNINGS
from mftl.training import chains

#: the schema's defaults of the keys planning reads, for a config that did not pass check_config
#: (tests/test_stability_plan.py checks them against StabilitySettings)
PLANNING_DEFAULTS = {"enabled": True, "sizes": "largest"}


def settings(dataset_spec: Mapping) -> dict:
    """A dataset's ``stability`` mapping as the job gets it (``--settings``)."""
    return dict(dataset_spec.get("stability", {}))


def _planning_key(dataset_spec: Mapping, key: str):
    return settings(dataset_spec).get(key, PLANNING_DEFAULTS[key])


def checked_sizes(dataset_spec: Mapping) -> list[int]:
    """The training sizes whose models are checked: the largest, every size (``sizes: all``), none when off."""
    if not _planning_key(dataset_spec, "enabled"):
        return []
    sizes = list(dataset_spec["train_sizes"])
    return sizes if _planning_key(dataset_spec, "sizes") == "all" else [max(sizes)]


def stability_runs(campaign, dataset: str) -> list:
    """The trained models (:class:`mftl.planning.campaign.Run`) a dataset checks: every trained route's runs
    (the mftl runs mftl_auto chooses among included), every seed, at the checked sizes."""
    sizes = set(checked_sizes(campaign.dataset(dataset)))
    return [run for run in campaign.model_runs(dataset) if run.meta["train_size"] in sizes]


def start_data(campaign, dataset: str, method: str, tag: str) -> tuple[str, str] | None:
    """(test labels, fidelity) of the data the starting model of ``method``'s run ``tag`` learnt, or None."""
    ds = campaign.dataset(dataset)
    if method in PRETRAINED_FINETUNINGS:
        return paths.labelled(dataset, "test", ds["low_fidelity"]), ds["low_fidelity"]
    if method in FOUNDATION_FINETUNINGS:
        name = campaign.run_metadata(dataset, method, tag)["foundation"]
        by = campaign.config["foundations"][name].get("trained_by")
        if by is None:
            return None  # the foundation's data is not in the campaign
        hf = campaign.dataset(by["dataset"])["high_fidelity"]
        return paths.labelled(by["dataset"], "test", hf), hf
    if chains.is_chain_method(method):
        last = campaign.chain_stages(dataset, chains.chain_name(method))[-1]
        return paths.labelled(last["dataset"], "test", last["fidelity"]), last["fidelity"]
    return None


def base_labeller(campaign, dataset: str) -> tuple[str, dict] | None:
    """(labeller, options) of the low fidelity: the reference of every model's repulsion scans and the base a Delta
    model adds its correction to; None when its labels are read from keys (a Delta model's MD and repulsion are
    then skipped, the other models' scans have no reference)."""
    spec = campaign.fidelity(dataset, campaign.dataset(dataset)["low_fidelity"])
    return (spec["labeller"], dict(spec.get("options", {}))) if "labeller" in spec else None
