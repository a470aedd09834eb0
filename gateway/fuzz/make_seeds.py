#!/usr/bin/env python3
"""Writes seeds/request/*.bin: requests as IdPs send them, encoded the way `arbitrary` 1.x
decodes `gateway_fuzz::Input` (fields in order; an enum variant from a little-endian u32, an
Option from a byte's low bit, a string's length from the end of the input, the body the rest).
Each seed is decoded back here before it is written; `cargo fuzz fmt request <seed>` shows
what the target makes of it. Run it after changing `Input`.
"""

import os
import sys

ANSWERS = ["Resource", "MembersOmitted", "NotFound", "Uniqueness", "VersionMismatch", "InvalidValue",
           "InvalidFilter", "TooMany", "RateLimited", "Busy", "Unauthenticated", "Unavailable", "Internal"]
FRAMINGS = ["Length", "Chunked", "DeclaredTooLarge"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "Other"]
ENDPOINTS = ["Users", "Groups", "Bulk", "Search", "Me", "ServiceProviderConfig", "ResourceTypes", "Schemas",
             "Base", "Livez", "Readyz", "Raw"]
AUTHORIZATIONS = ["Token", "OtherRegion", "Raw"]
CONTENT_TYPES = ["Scim", "Json", "ScimUtf8", "Raw"]
TRACEPARENTS = ["Valid", "Raw"]


def variant(index, count):
    """The smallest u32 whose `(u32 * count) >> 32` is `index`."""
    value = -(-(index << 32) // count)
    assert (value * count) >> 32 == index
    return value.to_bytes(4, "little")


class Reads:
    """What `Input::arbitrary_take_rest` reads, in order: fixed bytes from the front, and byte
    strings whose length comes from the end."""

    def __init__(self):
        self.items = []

    def enum(self, names, name):
        self.items.append(("fixed", variant(names.index(name), len(names))))

    def option(self, present):
        self.items.append(("fixed", bytes([1 if present else 0])))

    def bytes(self, data):
        self.items.append(("sized", data))

    def encode(self, body):
        widths = [1] * sum(1 for kind, _ in self.items if kind == "sized")
        while True:
            total = sum(len(d) for _, d in self.items) + sum(widths) + len(body)
            front, tail, new_widths, consumed_front, consumed_back = b"", [], [], 0, 0
            for kind, data in self.items:
                if kind == "fixed":
                    front += data
                    consumed_front += len(data)
                    continue
                remaining = total - consumed_front - consumed_back
                width, size = length_bytes(remaining, len(data))
                new_widths.append(width)
                tail.append(size)
                consumed_back += width
                front += data
                consumed_front += len(data)
            if new_widths == widths:
                return front + body + b"".join(reversed(tail))
            widths = new_widths


def length_bytes(remaining, length):
    """How `arbitrary_byte_size` reads `length` when `remaining` bytes are left: its width and bytes."""
    for width, limit in ((1, 256), (2, 65536 + 1), (4, 2**32 + 3)):
        if remaining <= limit:
            break
    max_size = remaining - width
    assert length <= max_size, (length, remaining)
    return width, length.to_bytes(width, "big") if width > 1 else bytes([length])


def read_length(data, front, back):
    remaining = len(data) - front - back
    if remaining == 0:
        return 0, 0
    if remaining == 1:
        return 0, 1
    for width, limit in ((1, 256), (2, 65536 + 1), (4, 2**32 + 3)):
        if remaining <= limit:
            break
    max_size = remaining - width
    raw = data[len(data) - back - width:len(data) - back]
    value, used = 0, 0
    while used < width and (max_size >> (used * 8)) > 0:
        value = (value << 8) | raw[used] if width > 1 else raw[used]
        used += 1
    return value % (max_size + 1), width


def decode(data, shape):
    """The values `shape` (a list of 'enum:<n>', 'option', 'sized') reads from `data`: a check."""
    front, back, out = 0, 0, []
    for kind in shape:
        if kind.startswith("enum:"):
            value = int.from_bytes(data[front:front + 4], "little")
            out.append((value * int(kind[5:])) >> 32)
            front += 4
        elif kind == "option":
            out.append(data[front] & 1)
            front += 1
        else:
            length, width = read_length(data, front, back)
            back += width
            out.append(data[front:front + length])
            front += length
    out.append(data[front:len(data) - back])
    return out


def request(answer, method, endpoint, path, query=None, authorization="Token", content_type=None,
            if_match=None, if_none_match=None, traceparent=None, host=None, forwarded=None, body=b"",
            framing="Length"):
    reads, shape, expected = Reads(), [], []

    def enum(names, name):
        reads.enum(names, name)
        shape.append(f"enum:{len(names)}")
        expected.append(names.index(name))

    def option(value):
        reads.option(value is not None)
        shape.append("option")
        expected.append(1 if value is not None else 0)

    def sized(data):
        reads.bytes(data)
        shape.append("sized")
        expected.append(data)

    enum(ANSWERS, answer)
    enum(FRAMINGS, framing)
    if method in METHODS:
        enum(METHODS, method)
    else:
        enum(METHODS, "Other")
        sized(method.encode())
    enum(ENDPOINTS, endpoint)
    sized(path.encode())
    option(query)
    if query is not None:
        sized(query.encode())
    option(authorization)
    if authorization is not None:
        if authorization in AUTHORIZATIONS[:2]:
            enum(AUTHORIZATIONS, authorization)
        else:
            enum(AUTHORIZATIONS, "Raw")
            sized(authorization.encode())
    option(content_type)
    if content_type is not None:
        if content_type in CONTENT_TYPES[:3]:
            enum(CONTENT_TYPES, content_type)
        else:
            enum(CONTENT_TYPES, "Raw")
            sized(content_type.encode())
    for value in (if_match, if_none_match):
        option(value)
        if value is not None:
            sized(value.encode())
    option(traceparent)
    if traceparent is not None:
        if traceparent == "Valid":
            enum(TRACEPARENTS, "Valid")
        else:
            enum(TRACEPARENTS, "Raw")
            sized(traceparent.encode())
    for value in (host, forwarded):
        option(value)
        if value is not None:
            sized(value.encode())
    data = reads.encode(body)
    assert decode(data, shape) == expected + [body], "the encoding does not decode back"
    return data


ENTRA_USER = b"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"externalId":"0a21f0f2-8d2a-4f8e-bf98-7b2d4e7d4c1a","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com","active":true,"displayName":"Test User","emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.com"}],"meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","department":"R&D","manager":{"value":"m1"}}}"""

ENTRA_GROUP_MEMBERS = b"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"u1"},{"value":"u2"}]},{"op":"Remove","path":"members[value eq \\"u3\\"]"},{"op":"Replace","path":"displayName","value":"Engineering"}]}"""

ENTRA_USER_PATCH = b"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"},{"op":"Add","path":"emails[type eq \\"work\\"].value","value":"new@contoso.com"},{"op":"replace","value":{"displayName":"New Name","name.givenName":"New"}},{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]}"""

BULK = b"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":2,"Operations":[{"method":"POST","path":"/Users","bulkId":"u","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulk@example.com"}},{"method":"POST","path":"/Groups","bulkId":"g","data":{"displayName":"Bulk","members":[{"value":"bulkId:u"}]}},{"method":"PATCH","path":"/Groups/bulkId:g","data":{"Operations":[{"op":"add","path":"members","value":[{"value":"u9"}]}]}},{"method":"DELETE","path":"/Users/u7","version":"W/\\"3\\""}]}"""

SEARCH = b"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"emails[type eq \\"work\\" and value co \\"@contoso.com\\"] or (active eq true and not (title pr))","attributes":["userName","emails"],"sortBy":"userName","sortOrder":"descending","startIndex":1,"count":10}"""

SEARCH_ALL = b"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"displayName sw \\"Eng\\"","excludedAttributes":"members","startIndex":2,"count":2}"""

GROUP = b"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","externalId":"g-1","members":[{"value":"u1","type":"User"},{"value":"u2"}]}"""

SEEDS = {
    "entra_post_user": request("Resource", "POST", "Users", "", content_type="Scim", body=ENTRA_USER,
                               traceparent="Valid"),
    "entra_post_user_taken": request("Uniqueness", "POST", "Users", "", content_type="Json", body=ENTRA_USER),
    "entra_patch_group_members": request("Resource", "PATCH", "Groups", "/e9e30dba-f08f-4109-8486-d5c6a331660a",
                                         content_type="Scim", body=ENTRA_GROUP_MEMBERS),
    "entra_patch_user": request("Resource", "PATCH", "Users", "/2819c223-7f76-453a-919d-413861904646",
                                content_type="ScimUtf8", if_match='W/"3"', body=ENTRA_USER_PATCH),
    "entra_get_user_filter": request("Resource", "GET", "Users", "",
                                     query='filter=userName eq "Test_User_ab6490ee@contoso.com"&startIndex=1&count=10'),
    "okta_get_groups_filter": request("MembersOmitted", "GET", "Raw", "/scim/v2/groups/",
                                      query='filter=displayName eq "Engineering"&excludedAttributes=members&count=100'),
    "get_users_cursor": request("Resource", "GET", "Users", "",
                                query="filter=meta.lastModified gt \"2024-01-01T00:00:00Z\"&cursor=&count=1&sortBy=userName&sortOrder=ascending&attributes=userName,name.givenName"),
    "get_user_if_none_match": request("Resource", "GET", "Users", "/u1", if_none_match='W/"3", W/"4"',
                                      traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                      host="scim.example.com", forwarded="proto=https;host=idp.example.com"),
    "get_group_members_stream": request("MembersOmitted", "GET", "Groups", "/g1", query="attributes=members"),
    "put_group_version_mismatch": request("VersionMismatch", "PUT", "Groups", "/g1", content_type="Scim",
                                          if_match='W/"2"', body=GROUP),
    "post_group_chunked": request("Resource", "POST", "Groups", "", content_type="Scim", body=GROUP, framing="Chunked"),
    "bulk": request("Resource", "POST", "Bulk", "", content_type="Scim", body=BULK),
    "search_users": request("Resource", "POST", "Users", "/.search", content_type="Scim", body=SEARCH),
    "search_all_busy": request("Busy", "POST", "Search", "", content_type="Scim", body=SEARCH_ALL),
    "delete_user_not_found": request("NotFound", "DELETE", "Users", "/missing", if_match="*"),
    "schemas_with_token": request("Resource", "GET", "Schemas", "/urn:ietf:params:scim:schemas:core:2.0:User"),
    "service_provider_config": request("Resource", "GET", "ServiceProviderConfig", "", authorization=None),
    "other_region_token": request("Resource", "GET", "Users", "", authorization="OtherRegion"),
    # What fuzzing found: GET /.search answered 405 without a SCIM body; a rejection of
    # /scim/v2x was reported to the provisioning log as the path "x".
    "found_get_search_all": request("Resource", "GET", "Search", ""),
    "found_report_below_base": request("Resource", "GET", "Base", "x\x1a"),
    "internal_error": request("Internal", "GET", "Users", "/u1", authorization="Bearer scim_local_other"),
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "request")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, f"{name}.bin"), "wb") as seed:
            seed.write(data)
    print(f"{len(SEEDS)} seeds in {out}", file=sys.stderr)
