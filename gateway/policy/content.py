"""What a message says, for the rules: the one message reader lives in ``gateway.message``; this
module keeps the names the policy code and its tests import."""

from gateway.message import (
    HTML_LIMITS,
    Attachment,
    AttachmentKind,
    HtmlLimits,
    Image,
    Link,
    MessageContent,
    addresses_in,
    classify_attachment,
    decode_bytes,
    decode_header_value,
    fold,
    host_of,
    normalize,
    parse_headers,
    read_message,
    strip_invisible,
    strip_quoted,
    text_links,
)
from gateway.message.text import _fold_any

__all__ = ["HTML_LIMITS", "Attachment", "AttachmentKind", "HtmlLimits", "Image", "Link", "MessageContent",
           "_fold_any", "addresses_in", "classify_attachment", "decode_bytes", "decode_header_value", "fold",
           "host_of", "normalize", "parse_headers", "read_message", "strip_invisible", "strip_quoted", "text_links"]
