/**
 * Plugin settings (`[runners.plugin.settings]`, `[hooks.plugins.settings]`) checked against the JSON
 * Schema the plugin reports in GetInfo, when it reports one (SPEC §4). A mismatch is a configuration
 * error naming each key, so the job never reaches a plugin that would misread its settings.
 *
 * Ajv (JSON Schema draft-07 and 2019/2020 keywords it knows) is loaded only when a schema exists.
 */
import { DroverError } from "../errors.ts";

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
  const { default: Ajv } = await import("ajv");
  const ajv = new Ajv({ allErrors: true, strict: false });
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
