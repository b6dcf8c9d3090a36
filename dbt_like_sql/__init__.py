"""The mart models (`*.sql`), shipped as a data package so an installed wheel has them too
(`wealth_pipeline.marts.models.models_folder` finds this folder)."""
