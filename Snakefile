# tlspipe: find two-level systems in computer glasses.
#   snakemake --cores 2                         the default study (config/config.yaml)
#   snakemake --cores 2 --configfile config/test.yaml
#   snakemake --cores 2 results/default/figures/fig3.png     one target
import os

from snakemake.utils import min_version

min_version("8.10")


# the working directory's config/config.yaml when there is one, else the repository's default study
configfile: "config/config.yaml" if os.path.exists("config/config.yaml") else os.path.join(workflow.basedir, "config", "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/explore.smk"
include: "workflow/rules/pairs.smk"
include: "workflow/rules/neb.smk"
include: "workflow/rules/loop.smk"
include: "workflow/rules/figures.smk"


# cheap bookkeeping and plotting rules run where Snakemake runs, not as cluster jobs
localrules:
    all,
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
        f"{R}/tls.parquet",
        TABLES,
        FIGURES,
