// Form fields for a channel plugin's `config_schema` (JSON Schema, an object of
// properties), and the config object read back from them. Strings become text inputs
// (password inputs when `writeOnly`), enums selects, booleans checkboxes, numbers number
// inputs, lists of strings a textarea with one item per line, and string maps (headers) a
// textarea of `Name: value` lines. The plugin itself validates the result on the server.

import { field, h } from "/console/dom.js";
import { t } from "/console/i18n.js";

const WORDS = { url: "URL", id: "ID", api: "API", smtp: "SMTP" };

function humanize(key) {
  const words = key.split(/[_\-\s]+/).filter(Boolean);
  return words
    .map((w, i) => WORDS[w.toLowerCase()] ?? (i === 0 ? w[0].toUpperCase() + w.slice(1) : w))
    .join(" ");
}

function kindOf(property) {
  const type = Array.isArray(property.type) ? property.type.find((x) => x !== "null") : property.type;
  if (property.enum) return "enum";
  if (type === "array") return "list";
  if (type === "object") return "map";
  if (type === "boolean") return "boolean";
  if (type === "integer" || type === "number") return "number";
  return "string";
}

// Returns { element, read() } where read() gives { config } or { error, control }.
export function schemaForm(schema, idPrefix) {
  const properties = schema?.properties ?? {};
  const required = new Set(schema?.required ?? []);
  const entries = Object.entries(properties).sort(([a], [b]) => Number(required.has(b)) - Number(required.has(a)));
  const readers = [];
  const element = h("div", { class: "schema-fields" });
  for (const [key, property] of entries) {
    const { node, read } = propertyField(key, property, required.has(key), `${idPrefix}-${key}`);
    element.append(node);
    readers.push(read);
  }
  return {
    element,
    read() {
      const config = {};
      for (const read of readers) {
        const result = read();
        if (result.error) return result;
        if (result.value !== undefined) config[result.key] = result.value;
      }
      return { config };
    },
  };
}

function propertyField(key, property, isRequired, id) {
  const kind = kindOf(property);
  const secret = property.writeOnly === true;
  const label = property.title || humanize(key);
  const hints = [];
  if (property.description) hints.push(property.description);
  if (kind === "list") hints.push(t("schema.list.hint"));
  if (kind === "map") hints.push(t("schema.map.hint"));
  if (secret) hints.push(t("schema.secret"));
  const hint = hints.join(" ");
  const control = controlFor(kind, property, secret, isRequired);
  control.name = key;
  control.dataset.configKey = key;
  const node = kind === "boolean"
    ? h("div", { class: "field field-check" }, h("label", { for: id }, control, " ", label), hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null)
    : field({ id, label, control, hint, required: isRequired });
  if (kind === "boolean") {
    control.id = id;
    if (hint) control.setAttribute("aria-describedby", `${id}-hint`);
  }
  return { node, read: () => readValue(key, kind, control, label, isRequired) };
}

function controlFor(kind, property, secret, isRequired) {
  switch (kind) {
    case "enum":
      return h(
        "select",
        {},
        isRequired ? null : h("option", { value: "" }, t("schema.choose")),
        property.enum.map((v) => h("option", { value: String(v), selected: property.default === v }, String(v))),
      );
    case "boolean":
      return h("input", { type: "checkbox", checked: property.default === true });
    case "number":
      return h("input", { type: "number", inputmode: "decimal", value: property.default ?? "" });
    case "list":
    case "map":
      return h("textarea", {
        rows: 3,
        spellcheck: "false",
        autocomplete: "off",
        class: secret ? "secret-text" : null,
      });
    default:
      return h("input", {
        type: secret ? "password" : property.format === "email" ? "email" : "text",
        inputmode: property.format === "uri" ? "url" : null,
        autocomplete: secret ? "new-password" : "off",
        spellcheck: "false",
        value: property.default ?? "",
      });
  }
}

function readValue(key, kind, control, label, isRequired) {
  const fail = (message) => ({ error: message, control });
  if (kind === "boolean") return { key, value: control.checked };
  const raw = control.value.trim();
  if (!raw) {
    if (isRequired) return fail(`${label}: ${t("schema.required")}`);
    return { key, value: undefined };
  }
  switch (kind) {
    case "number": {
      const n = Number(raw);
      return Number.isFinite(n) ? { key, value: n } : fail(t("schema.number.bad", { field: label }));
    }
    case "list":
      return { key, value: raw.split("\n").map((s) => s.trim()).filter(Boolean) };
    case "map": {
      const map = {};
      const lines = raw.split("\n");
      for (let i = 0; i < lines.length; i += 1) {
        const line = lines[i].trim();
        if (!line) continue;
        const colon = line.indexOf(":");
        if (colon <= 0) return fail(t("schema.map.bad", { field: label, line: i + 1 }));
        map[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
      }
      return { key, value: map };
    }
    default:
      return { key, value: raw };
  }
}
