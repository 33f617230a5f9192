/**
 * Plugin settings (`[runners.plugin.settings]`, `[hooks.plugins.settings]`) checked against the JSON
 * Schema the plugin reports in GetInfo, when it reports one (docs/configuration.md). A mismatch is a configuration
 * error naming each key, so the job never reaches a plugin that would misread its settings.
 *
 * Ajv is loaded only when a schema exists, in the flavour the schema's `$schema` asks for (draft
 * 2020-12, 2019-09, else draft-07).
 */
import { DroverError } from "../../kernel/errors.ts";

export async function checkPluginSettings(
  plugin: string,
  schemaJson: string,
  settings: unknown,
  where: string,
): Promise<void> {
  if (!schemaJson.trim()) return;
  let schema: unknown;
  try {
    schema = JSON.parse(schemaJson);
  } catch (err) {
    throw new DroverError(
      "plugin_call",
      `plugin "${plugin}" reports a settings schema that is not JSON: ${(err as Error).message}`,
      { plugin },
    );
  }
  const ajv = await validatorFor(schema);
  let validate: ReturnType<typeof ajv.compile>;
  try {
    validate = ajv.compile(schema as object);
  } catch (err) {
    throw new DroverError(
      "plugin_call",
      `plugin "${plugin}" reports an invalid settings schema: ${(err as Error).message}`,
      { plugin },
    );
  }
  if (validate(settings)) return;
  const problems = (validate.errors ?? []).map((e) => {
    const key = e.instancePath.replace(/^\//, "").replaceAll("/", ".");
    const extra =
      e.keyword === "additionalProperties"
        ? ` (${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)})`
        : "";
    return `${where}.settings${key ? `.${key}` : ""}: ${e.message ?? "invalid"}${extra}`;
  });
  throw new DroverError(
    "config_invalid",
    `${where}: settings for plugin "${plugin}" do not match its schema: ${problems.join("; ")}`,
    {
      plugin,
      problems,
    },
  );
}

async function validatorFor(schema: unknown) {
  const dialect =
    typeof schema === "object" && schema !== null
      ? String((schema as { $schema?: unknown }).$schema ?? "")
      : "";
  const options = { allErrors: true, strict: false };
  if (dialect.includes("2020-12")) return new (await import("ajv/dist/2020")).default(options);
  if (dialect.includes("2019-09")) return new (await import("ajv/dist/2019")).default(options);
  return new (await import("ajv")).default(options);
}
