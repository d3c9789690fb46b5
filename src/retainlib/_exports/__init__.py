"""Writers of a Dataset's tables in vendors' export formats (Shopify, Zendesk, survey tools).

One module per vendor family; :mod:`retainlib.samples` uses them so that demos,
docs and benchmarks exercise the real readers.
"""
