"""The datacenter access log (Anexo 1 of S.04.03.02_P, flow 1): who entered, for what, when they left."""
