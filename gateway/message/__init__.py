"""The one message reader: headers, decoded parts, text, links, images and attachments of a raw
message, for policy, order-id extraction and review (``display``: the part list and text a reviewer
sees; ``report``: a bounce report's reading). ``read_message`` never raises."""

from gateway.message.attachments import classify_attachment
from gateway.message.html import HTML_LIMITS, HtmlLimits, host_of
from gateway.message.mime import header_recipients, parse_headers, read_headers, read_message, text_links
from gateway.message.model import Attachment, AttachmentKind, Image, Link, MessageContent
from gateway.message.quotes import strip_quoted
from gateway.message.text import addresses_in, decode_bytes, decode_header_value, fold, normalize, strip_invisible

__all__ = ["HTML_LIMITS", "Attachment", "AttachmentKind", "HtmlLimits", "Image", "Link", "MessageContent",
           "addresses_in", "classify_attachment", "decode_bytes", "decode_header_value", "fold", "header_recipients",
           "host_of", "normalize", "parse_headers", "read_headers", "read_message", "strip_invisible",
           "strip_quoted", "text_links"]
