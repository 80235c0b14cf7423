# fieldData validation of the Webflow Data API v2 fake: checks each value
# against its collection field's type and validations, like the real API does
# (400 validation_error with {param, description} details), and normalizes
# values the way Webflow returns them (DateTime -> ...000Z, files get a fileId).
import math
import re

from .util import detail, fmt_iso, new_id, parse_iso, OBJECTID_RE

STRING_TYPES = {"PlainText", "RichText", "Link", "Email", "Phone", "VideoLink"}

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_FUNC_COLOR = re.compile(r"^(?:rgb|rgba|hsl|hsla)\(\s*[-+0-9.%,/\sdegra-z]*\)$", re.I)
_NAMED_COLORS = set("""
transparent currentcolor aliceblue antiquewhite aqua aquamarine azure beige bisque black
blanchedalmond blue blueviolet brown burlywood cadetblue chartreuse chocolate coral
cornflowerblue cornsilk crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgreen
darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon
darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink
deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro
ghostwhite gold goldenrod gray green greenyellow grey honeydew hotpink indianred indigo
ivory khaki lavender lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan
lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen
lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen
magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen
mediumslateblue mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream
mistyrose moccasin navajowhite navy oldlace olive olivedrab orange orangered orchid
palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum
powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown
seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen
steelblue tan teal thistle tomato turquoise violet wheat white whitesmoke yellow
yellowgreen""".split())

MAX_MULTI_IMAGES = 25


class _Bad(Exception):
    pass


def _file_value(value, kind):
    if not isinstance(value, dict):
        raise _Bad("%s must be an object with a url or fileId" % kind)
    url, file_id, alt = value.get("url"), value.get("fileId"), value.get("alt")
    if not (isinstance(url, str) and url) and not (isinstance(file_id, str) and file_id):
        raise _Bad("%s must have a url or a fileId" % kind)
    if url is not None and not isinstance(url, str):
        raise _Bad("%s url must be a string" % kind)
    if file_id is not None and not isinstance(file_id, str):
        raise _Bad("%s fileId must be a string" % kind)
    if alt is not None and not isinstance(alt, str):
        raise _Bad("%s alt must be a string" % kind)
    if not file_id:
        file_id = new_id()  # Webflow uploads the url and returns its asset id
    out = {"fileId": file_id, "url": url or "/files/%s_file" % file_id}
    if "alt" in value:
        out["alt"] = alt
    return out


def _number(field, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise _Bad("Value must be a number")
    v = field.get("validations") or {}
    if v.get("format") == "integer" and value != int(value):
        raise _Bad("Value must be an integer")
    if v.get("allowNegative") is False and value < 0:
        raise _Bad("Value must not be negative")
    if v.get("allowZero") is False and value == 0:
        raise _Bad("Value must not be zero")
    if v.get("minValue") is not None and value < v["minValue"]:
        raise _Bad("Value must be greater than or equal to %s" % v["minValue"])
    if v.get("maxValue") is not None and value > v["maxValue"]:
        raise _Bad("Value must be less than or equal to %s" % v["maxValue"])
    return value


def _reference(store, field, value):
    target = (field.get("validations") or {}).get("collectionId")
    if not isinstance(value, str) or not OBJECTID_RE.match(value):
        raise _Bad("Referenced item id must be an ObjectId string")
    if not store.item_exists(target, value):
        raise _Bad("Referenced item not found: '%s'" % value)
    return value


def check_value(store, field, value):
    """Return the normalized value, or raise _Bad(description)."""
    ftype = field["type"]
    v = field.get("validations") or {}
    if ftype in STRING_TYPES:
        if not isinstance(value, str):
            raise _Bad("Value must be a string")
        if v.get("maxLength") is not None and len(value) > v["maxLength"]:
            raise _Bad("Value must be at most %s characters" % v["maxLength"])
        if v.get("singleLine") and "\n" in value:
            raise _Bad("Value must be a single line")
        return value
    if ftype == "Number":
        return _number(field, value)
    if ftype == "Switch":
        if not isinstance(value, bool):
            raise _Bad("Value must be a boolean")
        return value
    if ftype == "DateTime":
        dt = parse_iso(value)
        if dt is None:
            raise _Bad("Value must be an ISO 8601 date string")
        return fmt_iso(dt)
    if ftype == "Color":
        if not isinstance(value, str) or not (
                _HEX_COLOR.match(value) or _FUNC_COLOR.match(value)
                or value.lower() in _NAMED_COLORS):
            raise _Bad("Value must be a valid CSS color")
        return value
    if ftype == "Option":
        ids = [o.get("id") for o in v.get("options", [])]
        if not isinstance(value, str) or value not in ids:
            raise _Bad("Value must be one of the option ids: %s" % ", ".join(ids))
        return value
    if ftype == "Reference":
        return _reference(store, field, value)
    if ftype == "MultiReference":
        if not isinstance(value, list):
            raise _Bad("Value must be an array of item ids")
        return [_reference(store, field, x) for x in value]
    if ftype in ("Image", "File"):
        return _file_value(value, ftype)
    if ftype == "MultiImage":
        if not isinstance(value, list):
            raise _Bad("Value must be an array of images")
        if len(value) > MAX_MULTI_IMAGES:
            raise _Bad("At most %d images are allowed" % MAX_MULTI_IMAGES)
        return [_file_value(x, "Image") for x in value]
    if ftype == "User":
        raise _Bad("Field is read-only")
    return value  # ExtFileRef and anything undocumented: accepted as is


def _is_empty(value):
    return value is None or value == "" or value == []


def validate_field_data(store, collection, field_data, creating, unknown_prefix="",
                        value_prefix="fieldData."):
    """Validate fieldData for a create (creating=True) or a PATCH.
    Returns (normalized fieldData, details). Params are named like the real API:
    an unknown field -> unknown_prefix + "<slug>", a bad or missing value ->
    value_prefix + "<slug>" (e.g. "fieldData.price", or "items[3].fieldData.slug"
    in a multi-item request)."""
    if not isinstance(field_data, dict):
        return None, [detail(value_prefix.rstrip("."), "fieldData must be an object")]
    fields = {f["slug"]: f for f in collection["fields"]}
    out, details = {}, []
    for key, value in field_data.items():
        field = fields.get(key)
        if field is None:
            details.append(detail(unknown_prefix + key,
                                  "Field not described in schema: undefined"))
            continue
        param = value_prefix + key
        if field.get("isEditable") is False:
            details.append(detail(param, "Field is not editable"))
            continue
        required = field.get("isRequired") or key in ("name", "slug")
        if _is_empty(value):
            if required:
                details.append(detail(param, "Field '%s' is required" % key))
            else:
                out[key] = None if value is None else value
            continue
        try:
            out[key] = check_value(store, field, value)
        except _Bad as exc:
            details.append(detail(param, str(exc)))
    if creating:
        for slug, field in fields.items():
            if (field.get("isRequired") or slug in ("name", "slug")) \
                    and slug not in field_data:
                details.append(detail(value_prefix + slug, "Field '%s' is required" % slug))
    return out, details
