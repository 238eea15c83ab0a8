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
)
#: a foundation evaluated as it is, without training (train_size 0; no learning curve)
ZEROSHOT = "foundation_zeroshot"
#: fine-tunings of a foundation, run per foundation (run folders <foundation>_n<size>_s<seed>)
FOUNDATION_FINETUNINGS = ("foundation", "foundation_multihead")
#: methods that need the dataset's ``foundation`` key: its fine-tunings and its zero-shot evaluation
FOUNDATION_METHODS = (*FOUNDATION_FINETUNINGS, ZEROSHOT)
#: methods whose rows come from a low-fidelity pre-training of ``pretrain_size`` configurations served
#: at ``epoch_cap`` (mftl_auto: the cap chosen by validation error among mftl's)
PRETRAINED_METHODS = ("mftl", "mftl_auto")
#: methods that train models in run folders of their own (results/<dataset>/models/<method>/...);
#: method ``chain`` trains each named chain as method chain_<name>, mftl_auto chooses among mftl's
#: runs and foundation_zeroshot trains nothing
RUN_FOLDER_METHODS = ("scratch", "mftl", "delta", *FOUNDATION_FINETUNINGS)


def method_wildcard() -> str:
    """The regular expression of the rules' ``method`` wildcard: a run folder's method."""
    return "|".join([*RUN_FOLDER_METHODS, CHAIN_PREFIX + NAME_PATTERN])
