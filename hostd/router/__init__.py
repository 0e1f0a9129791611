"""The data plane, in its own processes: protocol, HTTP/1.1 framing, pages, upstream pool,
route table, request counts, worker pool and entry point. Imports neither docker nor
fastapi.
"""
