"""`kmsdoctor pipeline`: every principal of a CodePipeline and the artifacts each reads and writes.

`model` (pure) turns a pipeline definition into artifact accesses and questions; `findings` holds
the rules only the pipeline's own configuration can show (which key, named how). Reading the
pipeline from AWS is `kmsdoctor.collect.pipeline`.
"""
