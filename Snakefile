# tlspipe: find two-level systems in computer glasses.
#   snakemake --cores 2                         the default study (config/config.yaml)
#   snakemake --cores 2 --configfile config/test.yaml
#   snakemake --cores 2 results/default/figures/fig3.png     one target
from snakemake.utils import min_version

min_version("8.10")


# the study config is read and validated in common.smk (a --configfile is the whole study, see there)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/explore.smk"
include: "workflow/rules/pairs.smk"
include: "workflow/rules/neb.smk"
include: "workflow/rules/loop.smk"
include: "workflow/rules/learn.smk"
include: "workflow/rules/figures.smk"


# cheap bookkeeping and plotting rules run where Snakemake runs, not as cluster jobs
localrules:
    all,
    study_config,
    batch,
    baseline_batch,
    gather,
    tls_table,
    table1,
    table2,
    fig3,
    fig4,
    fig5,
    fig6,


rule all:
    input:
        f"{R}/config.yaml",
        f"{R}/tls.parquet",
        TABLES,
        FIGURES,


rule study_config:
    """The study's config as this run resolved it (the given file with the schema's defaults filled in)."""
    output:
        f"{R}/config.yaml",
    log:
        f"{R}/logs/study_config.log",
    benchmark:
        f"{R}/benchmarks/study_config.tsv"
    conda:
        "envs/tlspipe.yaml"
    params:
        config=config_provider(),
    script:
        "workflow/scripts/study_config.py"
