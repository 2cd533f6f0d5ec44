"""Electronic signatures: the PKI, CMS signatures and RFC 3161 timestamps."""
