from tlspipe.workflow import setup_logging, write_study_config

setup_logging(snakemake.log[0])
write_study_config(dict(snakemake.params.config), snakemake.output[0])
