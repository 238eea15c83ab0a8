# Input and argument functions of the rules in data.smk (download, convert, split).
from mftl.planning.config import conversion_downloads


def download_entry(wildcards):
    return config["downloads"][wildcards.download]


def fetch_args(wildcards):
    """The URL and checksums of one file of a download, and where to unpack it."""
    for item in download_entry(wildcards)["files"]:
        if item["name"] == wildcards.filename:
            break
    else:
        raise ValueError(f"downloads.{wildcards.download} has no file '{wildcards.filename}'")
    args = [quoted_option("--url", item["url"])]
    args += [f"--{algo} {item[algo]}" for algo in ("md5", "sha256") if algo in item]
    if download_entry(wildcards).get("unpack"):
        args.append(quoted_option("--unpack-to", paths.download_dir(wildcards.download)))
    return " ".join(args)


def conversion_inputs(wildcards):
    """The files of every download the dataset's convert pools, in the config's order."""
    names = conversion_downloads(dataset_config(wildcards)["convert"])
    return [path for name in names for path in campaign.downloaded_files(name)]


def conversion_args(wildcards):
    spec = dataset_config(wildcards)["convert"]
    fidelity = f" {quoted_option('--fidelity', spec['fidelity'])}" if "fidelity" in spec else ""
    return f"--converter {spec['converter']}{fidelity}"


def split_inputs(wildcards):
    """The source and, where the dataset gives one, its pretrain_geometries file (a changed file re-splits)."""
    ds = dataset_config(wildcards)
    given = {"geometries": ds["pretrain_geometries"]} if "pretrain_geometries" in ds else {}
    return {"source": ds["source"], **given}


def split_args(wildcards):
    """Part sizes, the split's seed, the high fidelity's label keys and the dataset's selection."""
    ds = dataset_config(wildcards)
    hf = ds["fidelities"][ds["high_fidelity"]]
    args = [
        f"--test {ds['split']['test']}",
        f"--validation {ds['split']['validation']}",
        f"--train-pool {max(ds['train_sizes'])}",
        f"--pretrain-pool {ds['split']['pretrain_pool']}",
        f"--seed {ds['split']['seed']}",
    ]
    if "energy_key" in hf:
        args += [
            quoted_option("--high-energy-key", hf["energy_key"]),
            quoted_option("--high-forces-key", hf["forces_key"]),
        ]
    if "select" in ds:
        args.append(quoted_option("--select", json.dumps(ds["select"])))
    if "pretrain_geometries" in ds:
        args.append(quoted_option("--pretrain-geometries", ds["pretrain_geometries"]))
    return " ".join(args)
