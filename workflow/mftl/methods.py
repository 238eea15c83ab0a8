"""The campaign's methods, named once: planning, config checks, costs, tables and plots import them here.

Plain names only (no pandas, no analysis code), so that the Snakefile and the config checks can
import them at planning. The config schema's ``methods`` enum cannot import Python: a test
(tests/test_config.py) checks that it lists exactly :data:`METHODS`.
"""

from __future__ import annotations

#: method name of a named chain's runs: chain_<name> (mftl.training.chains: where each stage trains)
CHAIN_PREFIX = "chain_"
#: a chain's name (no underscore or dash, so run folders and method names parse one way)
NAME_PATTERN = r"[A-Za-z0-9]+"
#: every method a dataset's ``methods`` may list (config key ``datasets.<name>.methods``)
METHODS = (
    "scratch",
    "mftl",
    "mftl_auto",
    "delta",
    "foundation",
    "foundation_multihead",
    "foundation_zeroshot",
    "chain",
    "mftl_freeze",
    "mftl_lora",
    "foundation_freeze",
    "foundation_lora",
    "foundation_pseudolabel",
)
#: fine-tuning strategies mace-torch ships, as methods ``<route>_<strategy>``: the route's training with the
#: strategy's mace_run_train flags (config ``training.strategies.<strategy>``, defaults in :data:`STRATEGY_FLAGS`)
STRATEGY_METHODS = {
    "mftl_freeze": ("mftl", "freeze"),
    "mftl_lora": ("mftl", "lora"),
    "foundation_freeze": ("foundation", "freeze"),
    "foundation_lora": ("foundation", "lora"),
    "foundation_pseudolabel": ("foundation_multihead", "pseudolabel"),
}
#: each strategy's defining flags and defaults, after mace's fine-tuning guidance (docs/guide/finetuning_guidance
#: of ACEsuit/mace; Tompa et al., arXiv 2606.12704): freeze=5 freezes the embedding and interaction blocks (the
#: products and readouts train), LoRA rank 4 and alpha 1 (mace's defaults) at the from-scratch learning rate,
#: pseudolabelled replay relabels the replay data with the foundation's own predictions
STRATEGY_FLAGS = {
    "freeze": {"freeze": 5},
    "lora": {"lora": True, "lora_rank": 4, "lora_alpha": 1.0, "lr": 0.01},
    "pseudolabel": {"pseudolabel_replay": True},
}
#: a foundation evaluated as it is, without training (train_size 0; no learning curve)
ZEROSHOT = "foundation_zeroshot"
#: fine-tunings of a foundation, run per foundation (run folders <foundation>_n<size>_s<seed>)
FOUNDATION_FINETUNINGS = (
    "foundation",
    "foundation_multihead",
    "foundation_freeze",
    "foundation_lora",
    "foundation_pseudolabel",
)
#: foundation fine-tunings that replay the foundation's data (multi-head)
MULTIHEAD_FINETUNINGS = ("foundation_multihead", "foundation_pseudolabel")
#: methods that need the dataset's ``foundation`` key: its fine-tunings and its zero-shot evaluation
FOUNDATION_METHODS = (*FOUNDATION_FINETUNINGS, ZEROSHOT)
#: methods whose rows come from a low-fidelity pre-training of ``pretrain_size`` configurations served
#: at ``epoch_cap`` (mftl_auto: the cap chosen by validation error among mftl's)
PRETRAINED_METHODS = ("mftl", "mftl_auto", "mftl_freeze", "mftl_lora")
#: methods that fine-tune a pre-training run's model at an epoch cap, in run folders of their own
#: (run tags p<pretrain>_e<cap>_n<size>_s<seed>); mftl_auto chooses among mftl's
PRETRAINED_FINETUNINGS = ("mftl", "mftl_freeze", "mftl_lora")
#: methods that train models in run folders of their own (results/<dataset>/models/<method>/...);
#: method ``chain`` trains each named chain as method chain_<name>, mftl_auto chooses among mftl's
#: runs and foundation_zeroshot trains nothing
RUN_FOLDER_METHODS = ("scratch", *PRETRAINED_FINETUNINGS, "delta", *FOUNDATION_FINETUNINGS)


def route(method: str) -> str:
    """The route a method varies (``mftl_lora`` -> ``mftl``); a method that is no strategy is its own route."""
    return STRATEGY_METHODS.get(method, (method, None))[0]


def strategy(method: str) -> str | None:
    """The fine-tuning strategy of a method (``mftl_lora`` -> ``lora``), None for the routes themselves."""
    return STRATEGY_METHODS.get(method, (method, None))[1]


def method_wildcard() -> str:
    """The regular expression of the rules' ``method`` wildcard: a run folder's method."""
    return "|".join([*RUN_FOLDER_METHODS, CHAIN_PREFIX + NAME_PATTERN])
