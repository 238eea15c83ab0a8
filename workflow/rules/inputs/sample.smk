# Input and argument functions of the rule in sample.smk (the pre-training pool sampled by the low fidelity).


def sample_inputs(wildcards):
    """The training pool (the trajectories' starts: never test or validation), the split's ids (sampled ids
    must not collide with them) and any downloaded parameter files of the labeller."""
    inputs = {
        "starts": paths.split_file(wildcards.dataset, "train_pool"),
        "ids": paths.split_ids(wildcards.dataset),
    }
    parameters = fidelity_config(wildcards).get("parameters")
    if parameters:
        inputs["parameters"] = campaign.downloaded_files(parameters)
    return inputs


def sample_args(wildcards):
    spec = fidelity_config(wildcards)
    settings = dataset_config(wildcards)["pretrain_sampling"]
    return (
        f"--labeller {spec['labeller']} {quoted_option('--options', json.dumps(spec.get('options', {})))}"
        f" {quoted_option('--settings', json.dumps(settings, sort_keys=True))}"
    )
