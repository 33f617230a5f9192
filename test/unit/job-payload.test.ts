/**
 * kernel/protocol/job-payload.ts: a file variable's value leaves job_json and comes back from the
 * context's variables, each to its own entry, the rest of the payload untouched.
 */
import { describe, expect, test } from "bun:test";
import { jobPayload, payloadJsonWithoutFileValues } from "../../kernel/protocol/job-payload.ts";

const payload = {
  id: 7,
  variables: [
    { key: "PLAIN", value: "visible", file: false },
    { key: "CERT", value: "first cert", file: true },
    { key: "CERT", value: "second cert", file: true },
    { key: "KUBECONFIG", value: "apiVersion: v1", file: true },
  ],
  steps: [{ name: "script", script: ['echo "value"'] }],
  nested: { value: "not a variable", file: true },
};

describe("job_json without file values", () => {
  const json = payloadJsonWithoutFileValues(payload);

  test("every file variable's value is empty; nothing else changes", () => {
    const sent = JSON.parse(json);
    expect(sent.variables).toEqual([
      { key: "PLAIN", value: "visible", file: false },
      { key: "CERT", value: "", file: true },
      { key: "CERT", value: "", file: true },
      { key: "KUBECONFIG", value: "", file: true },
    ]);
    expect(sent.steps).toEqual(payload.steps);
    expect(sent.nested).toEqual(payload.nested); // no `key`: not a variable
    expect(payload.variables[1]?.value).toBe("first cert"); // the payload itself is left alone
  });

  test("a payload without file variables is sent as it is", () => {
    expect(payloadJsonWithoutFileValues({ id: 1, variables: [{ key: "A", value: "b" }] })).toBe(
      JSON.stringify({ id: 1, variables: [{ key: "A", value: "b" }] }),
    );
  });

  test("jobPayload puts each value back from the context's variables, in order", () => {
    const variables = [
      { key: "CI_JOB_ID", value: "7", file: false },
      { key: "PLAIN", value: "visible", file: false },
      { key: "CERT", value: "first cert", file: true },
      { key: "CERT", value: "second cert", file: true },
      { key: "KUBECONFIG", value: "apiVersion: v1", file: true },
      { key: "CERT", value: "a runner environment value", file: false },
    ];
    const restored = jobPayload({ jobJson: new TextEncoder().encode(json), variables });
    expect(restored).toEqual(payload);
  });
});
