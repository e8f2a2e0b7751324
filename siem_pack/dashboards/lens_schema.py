"""Stage 4: our own JSON schema for the Lens attributes we render (kibana.py), written from
Kibana's documentation and its exported objects (the form-based datasource: layers of
columns keyed by id; the XY, metric, datatable and partition visualizations). Kibana
publishes no schema for these attributes, so this one covers the subset we emit, strictly
(unknown operation types or visualization types fail). Used by checks.py.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_QUERY = {"type": "object", "required": ["language", "query"], "additionalProperties": False,
          "properties": {"language": {"enum": ["kuery", "lucene"]}, "query": _STR}}
_REFERENCE = {"type": "object", "required": ["type", "id", "name"], "additionalProperties": False,
              "properties": {"type": {"const": "index-pattern"}, "id": {"type": "string", "minLength": 1},
                             "name": {"type": "string", "pattern": "^indexpattern-datasource-layer-.+$"}}}

_COLUMN_BASE = {
    "type": "object",
    "required": ["label", "dataType", "isBucketed", "operationType"],
    "properties": {
        "label": _STR,
        "customLabel": {"type": "boolean"},
        "dataType": {"enum": ["string", "number", "date", "boolean", "ip", "histogram"]},
        "isBucketed": {"type": "boolean"},
        "isStaticValue": {"type": "boolean"},
        "scale": {"enum": ["ordinal", "interval", "ratio"]},
        "operationType": {"enum": ["count", "sum", "average", "min", "max", "unique_count", "terms",
                                   "date_histogram", "formula", "math", "static_value"]},
        "sourceField": {"type": "string", "minLength": 1},
        "filter": _QUERY,
        "references": {"type": "array", "items": _STR},
        "params": {"type": "object"},
    },
    "additionalProperties": False,
}


def _op(op: str | list[str], then: dict[str, Any]) -> dict[str, Any]:
    ops = [op] if isinstance(op, str) else op
    return {"if": {"properties": {"operationType": {"enum": ops}}, "required": ["operationType"]}, "then": then}


_COLUMN = {
    **_COLUMN_BASE,
    "allOf": [
        _op("count", {"required": ["sourceField"], "properties": {"isBucketed": {"const": False},
                                                                  "dataType": {"const": "number"}}}),
        _op(["sum", "average", "unique_count"], {"required": ["sourceField"], "properties": {
            "isBucketed": {"const": False}, "dataType": {"const": "number"}}}),
        _op(["min", "max"], {"required": ["sourceField"], "properties": {
            "isBucketed": {"const": False}, "dataType": {"enum": ["number", "date"]}}}),
        _op("terms", {"required": ["sourceField", "params"], "properties": {
            "isBucketed": {"const": True}, "scale": {"const": "ordinal"},
            "params": {"type": "object", "required": ["size", "orderBy", "orderDirection"], "properties": {
                "size": {"type": "integer", "minimum": 1},
                "orderBy": {"oneOf": [
                    {"type": "object", "required": ["type", "columnId"],
                     "properties": {"type": {"const": "column"}, "columnId": _STR}},
                    {"type": "object", "required": ["type"], "properties": {"type": {"const": "alphabetical"}}}]},
                "orderDirection": {"enum": ["asc", "desc"]},
                "otherBucket": {"type": "boolean"},
                "missingBucket": {"type": "boolean"}}}}}),
        _op("date_histogram", {"required": ["sourceField", "params"], "properties": {
            "isBucketed": {"const": True}, "dataType": {"const": "date"}, "scale": {"const": "interval"},
            "params": {"type": "object", "required": ["interval"], "properties": {
                "interval": {"type": "string", "pattern": "^(auto|[0-9]+(ms|s|m|h|d|w|M|y))$"},
                "includeEmptyRows": {"type": "boolean"}, "dropPartials": {"type": "boolean"}}}}}),
        _op("formula", {"required": ["params", "references"], "properties": {
            "isBucketed": {"const": False},
            "params": {"type": "object", "required": ["formula", "isFormulaBroken"], "properties": {
                "formula": {"type": "string", "minLength": 1}, "isFormulaBroken": {"const": False}}}}}),
        _op("math", {"required": ["params", "references"], "properties": {
            "params": {"type": "object", "required": ["tinymathAst"]}}}),
        _op("static_value", {"required": ["params"], "properties": {
            "isStaticValue": {"const": True},
            "params": {"type": "object", "required": ["value"], "properties": {"value": _STR}}}}),
    ],
}

_LAYER = {
    "type": "object",
    "required": ["columns", "columnOrder"],
    "properties": {
        "columns": {"type": "object", "minProperties": 1, "additionalProperties": _COLUMN},
        "columnOrder": {"type": "array", "items": _STR, "minItems": 1, "uniqueItems": True},
        "incompleteColumns": {"type": "object", "maxProperties": 0},
        "sampling": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "linkToLayers": {"type": "array", "items": _STR},
    },
    "additionalProperties": False,
}

_XY_LAYER = {
    "type": "object",
    "required": ["layerId", "layerType", "accessors"],
    "properties": {
        "layerId": _STR,
        "layerType": {"enum": ["data", "referenceLine"]},
        "seriesType": {"enum": ["bar", "bar_stacked", "bar_horizontal", "bar_horizontal_stacked", "line", "area",
                                "area_stacked", "bar_percentage_stacked", "area_percentage_stacked"]},
        "xAccessor": _STR,
        "splitAccessor": _STR,
        "accessors": {"type": "array", "items": _STR, "minItems": 1},
        "yConfig": {"type": "array", "items": {"type": "object", "required": ["forAccessor"]}},
    },
    "allOf": [{"if": {"properties": {"layerType": {"const": "data"}}},
               "then": {"required": ["seriesType", "xAccessor"]}}],
}

_VISUALIZATIONS: dict[str, dict[str, Any]] = {
    "lnsXY": {"type": "object", "required": ["preferredSeriesType", "layers"], "properties": {
        "layers": {"type": "array", "items": _XY_LAYER, "minItems": 1},
        "legend": {"type": "object", "required": ["isVisible", "position"]},
        "valueLabels": {"enum": ["hide", "show", "inside"]},
        "fittingFunction": {"enum": ["None", "Zero", "Linear", "Carry", "Lookahead"]}}},
    "lnsMetric": {"type": "object", "required": ["layerId", "layerType", "metricAccessor"],
                  "properties": {"layerId": _STR, "layerType": {"const": "data"}, "metricAccessor": _STR}},
    "lnsDatatable": {"type": "object", "required": ["layerId", "layerType", "columns"], "properties": {
        "layerId": _STR, "layerType": {"const": "data"},
        "columns": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["columnId"], "properties": {"columnId": _STR,
                                                                       "isTransposed": {"type": "boolean"}}}}}},
    "lnsPie": {"type": "object", "required": ["shape", "layers"], "properties": {
        "shape": {"enum": ["pie", "donut", "treemap", "mosaic", "waffle"]},
        "layers": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["layerId", "layerType", "primaryGroups", "metrics"], "properties": {
                "layerId": _STR, "layerType": {"const": "data"},
                "primaryGroups": {"type": "array", "items": _STR, "minItems": 1},
                "metrics": {"type": "array", "items": _STR, "minItems": 1}}}}}},
}

LENS_ATTRIBUTES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "siem-pack Lens attributes (by-value panel, form-based datasource)",
    "type": "object",
    "required": ["title", "visualizationType", "type", "references", "state"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "description": _STR,
        "type": {"const": "lens"},
        "visualizationType": {"enum": sorted(_VISUALIZATIONS)},
        "references": {"type": "array", "items": _REFERENCE, "minItems": 1},
        "state": {
            "type": "object",
            "required": ["datasourceStates", "visualization", "query", "filters"],
            "additionalProperties": False,
            "properties": {
                "datasourceStates": {
                    "type": "object", "required": ["formBased"], "additionalProperties": False,
                    "properties": {
                        "formBased": {"type": "object", "required": ["layers"], "properties": {
                            "layers": {"type": "object", "minProperties": 1, "additionalProperties": _LAYER}}},
                        "textBased": {"type": "object"}}},
                "visualization": {"type": "object"},
                "query": _QUERY,
                "filters": {"type": "array"},
                "internalReferences": {"type": "array"},
                "adHocDataViews": {"type": "object"},
            },
        },
    },
    "allOf": [
        {"if": {"properties": {"visualizationType": {"const": vis}}},
         "then": {"properties": {"state": {"properties": {"visualization": schema}}}}}
        for vis, schema in sorted(_VISUALIZATIONS.items())
    ],
}

PANEL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "siem-pack dashboard panel (panelsJSON entry, by-value Lens)",
    "type": "object",
    "required": ["type", "panelIndex", "gridData", "embeddableConfig"],
    "properties": {
        "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
        "type": {"const": "lens"},
        "panelIndex": {"type": "string", "minLength": 1},
        "title": _STR,
        "gridData": {"type": "object", "required": ["x", "y", "w", "h", "i"], "properties": {
            "x": {"type": "integer", "minimum": 0, "maximum": 47}, "y": {"type": "integer", "minimum": 0},
            "w": {"type": "integer", "minimum": 1, "maximum": 48}, "h": {"type": "integer", "minimum": 1},
            "i": _STR}},
        "embeddableConfig": {"type": "object", "required": ["attributes"],
                             "properties": {"attributes": LENS_ATTRIBUTES_SCHEMA}},
    },
    "additionalProperties": False,
}
