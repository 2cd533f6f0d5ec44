def render_protocol_pdf(detail: dict, *, language: str) -> bytes:
    raise NotImplementedError
