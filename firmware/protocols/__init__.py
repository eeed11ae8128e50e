"""Pure codecs and handlers for the wire protocols: bytes in, bytes out, no bus access."""
