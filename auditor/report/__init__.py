"""Reports: the model (build, merge, load, judge) and one module per format (see ``formats``)."""

__all__: list[str] = []
