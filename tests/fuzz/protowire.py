"""Protocol-buffer wire encoding by hand, for the corpus generators (which
run with the standard library only)."""


def varint(n):
    """Base-128 varint; negative numbers as 64-bit two's complement."""
    n &= (1 << 64) - 1
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number, payload):
    """Field `number`: an int or bool as a varint, str or bytes delimited."""
    if isinstance(payload, bool):
        payload = int(payload)
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload
