/** Pieces of the container executor (plugins/container) that decide things on their own. */
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { create, ImageSchema } from "@drover/plugin-sdk";
import { ownerGone, ownerId } from "../../plugins/container/names.ts";
import { serviceAliases } from "../../plugins/container/services.ts";

describe("who owns a leftover", () => {
  const me = ownerId()!;
  const [machine, boot, namespace] = me.split("/");

  test("this process is not gone", () => {
    expect(me.split("/")).toHaveLength(5);
    expect(ownerGone(me)).toBe(false);
  });

  test("a process of this machine, boot and namespace that is not running any more is", () => {
    expect(ownerGone(`${machine}/${boot}/${namespace}/${process.pid}/1`)).toBe(true);
    expect(ownerGone(`${machine}/${boot}/${namespace}/999999999/1`)).toBe(true);
  });

  test("before this machine last booted: gone", () => {
    expect(ownerGone(`${machine}/another-boot/${namespace}/${process.pid}/1`)).toBe(true);
  });

  test("another machine's or another pid namespace's (two drovers on one daemon): left alone", () => {
    expect(ownerGone(`another-machine/${boot}/${namespace}/999999999/1`)).toBe(false);
    expect(ownerGone(`${machine}/${boot}/4026531999/999999999/1`)).toBe(false);
    // An older label without the machine and namespace parts is not ours to judge.
    expect(ownerGone("24245:337902")).toBe(false);
  });

  test("the parts are what the kernel says", () => {
    expect(machine).toBe(readFileSync("/etc/machine-id", "utf8").trim());
    expect(namespace).toBe(String(statSync("/proc/self/ns/pid").ino));
  });
});

describe("service aliases, as GitLab gives them", () => {
  test.each([
    ["postgres:15", "", ["postgres"]],
    ["tutum/wordpress:latest", "", ["tutum-wordpress", "tutum__wordpress"]],
    [
      "registry.example.com:5000/group/db@sha256:abc",
      "db, primary",
      ["registry.example.com-5000-group-db", "db", "primary"],
    ],
    ["mysql", "a b,c", ["mysql", "a", "b", "c"]],
  ])("%s (alias %j)", (name, alias, expected) => {
    const aliases = serviceAliases(create(ImageSchema, { name, alias }));
    for (const wanted of expected) expect(aliases).toContain(wanted);
  });
});
