"""The collector: receives signed result files (`PUT /v1/results/{sha256}`), checks them, keeps them immutably in a
content-addressed raw zone (local folder or any S3-compatible store), and exports the curated Parquet dataset.

Modules: `layout` (object keys), `store` (durable, no-overwrite writes), `checks` (what makes an upload acceptable),
`ingest` (one upload, end to end), `ratelimit`, `app` (the ASGI shell), `export` (raw zone -> Parquet).
Starlette, uvicorn, boto3 and pyarrow are imported only inside the functions that need them.
"""
