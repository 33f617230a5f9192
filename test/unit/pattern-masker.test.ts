/**
 * Masking by shape (src/log/pattern-masker.ts): GitLab's token prefixes and credentials in URL
 * query parameters, and the streaming property: however the output is cut into chunks, the result
 * is the whole text masked at once.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { defaultTokenPrefixes, GITLAB_TOKEN_PREFIXES, PatternMasker } from "../../src/log/pattern-masker.ts";

function maskWhole(text: string, prefixes: readonly string[] = GITLAB_TOKEN_PREFIXES): string {
  const masker = new PatternMasker(prefixes);
  const out = Buffer.concat([masker.push(Buffer.from(text)), masker.flush()]);
  return out.toString();
}

function maskChunked(
  text: string,
  cuts: number[],
  prefixes: readonly string[] = GITLAB_TOKEN_PREFIXES,
): string {
  const masker = new PatternMasker(prefixes);
  const bytes = Buffer.from(text);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length)].sort((a, b) => a - b)) {
    pieces.push(masker.push(bytes.subarray(start, cut)));
    start = cut;
  }
  pieces.push(masker.push(bytes.subarray(start)), masker.flush());
  return Buffer.concat(pieces).toString();
}

describe("token prefixes", () => {
  test.each([
    ["TOKEN_REVEALS=glpat-abcdef\n", "TOKEN_REVEALS=glpat-[MASKED]\n"],
    ["a glpat-x1_y.z=2 b", "a glpat-[MASKED] b"],
    ["glrt-abc and gldt-Q9 and glcbt-1", "glrt-[MASKED] and gldt-[MASKED] and glcbt-[MASKED]"],
    ["_gitlab_session=deadbeef;", "_gitlab_session=[MASKED];"],
    // The prefix alone, or followed by a character that cannot be in a token: nothing to mask.
    ["glpat- alone", "glpat- alone"],
    ["glpat-", "glpat-"],
    ["end glpat-abc", "end glpat-[MASKED]"],
    ["no token here", "no token here"],
  ])("%j → %j", (input, expected) => {
    expect(maskWhole(input)).toBe(expected);
  });

  test("the job's own prefixes (features.token_mask_prefixes)", () => {
    expect(maskWhole("key=abc-123 other", ["abc-"])).toBe("key=abc-[MASKED] other");
  });

  test("FF_MASK_ALL_DEFAULT_TOKENS off: glpat- alone", () => {
    expect(defaultTokenPrefixes(false)).toEqual(["glpat-"]);
    expect(maskWhole("glpat-a glrt-b", defaultTokenPrefixes(false))).toBe("glpat-[MASKED] glrt-b");
    expect(defaultTokenPrefixes(true)).toEqual(GITLAB_TOKEN_PREFIXES);
  });
});

describe("URL query parameters", () => {
  test.each([
    [
      "GET https://s3/bucket/x?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abc123&x=1 ok",
      "GET https://s3/bucket/x?X-Amz-Credential=[MASKED]&X-Amz-Signature=[MASKED]&x=1 ok",
    ],
    ["https://gitlab/api?private_token=secret", "https://gitlab/api?private_token=[MASKED]"],
    ["/feed?rss_token=abc\nnext", "/feed?rss_token=[MASKED]\nnext"],
    [
      "?authenticity_token=t&x-amz-security-token=s",
      "?authenticity_token=[MASKED]&x-amz-security-token=[MASKED]",
    ],
    ["?token=not-one-of-them&private_tokens=x", "?token=not-one-of-them&private_tokens=x"],
    ["a & b ? c = d", "a & b ? c = d"],
  ])("%j → %j", (input, expected) => {
    expect(maskWhole(input)).toBe(expected);
  });
});

describe("streaming", () => {
  const samples = [
    "TOKEN_REVEALS=glpat-abcdef\nmore glrt-xyz and ?private_token=zzz&ok=1\n",
    "glpat-glpat-glpat-abc ?X-AMZ-SIGNATURE=1?x-amz-credential=2 end",
    "prefix glpa t-no glpat-\n_gitlab_session=abc&private_token=q",
    "ü glpat-ü ?private_token=ü& ok",
  ];

  test("every single cut gives the whole text's result", () => {
    for (const text of samples) {
      const whole = maskWhole(text);
      for (let cut = 0; cut <= Buffer.byteLength(text); cut++) {
        expect(maskChunked(text, [cut])).toBe(whole);
      }
    }
  });

  test("byte-by-byte and random chunkings give the whole text's result", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const text of samples) {
      const length = Buffer.byteLength(text);
      const whole = maskWhole(text);
      expect(
        maskChunked(
          text,
          Array.from({ length }, (_, i) => i),
        ),
      ).toBe(whole);
      for (let round = 0; round < 200; round++) {
        const cuts = Array.from({ length: 1 + Math.floor(random() * 6) }, () =>
          Math.floor(random() * length),
        );
        expect(maskChunked(text, cuts)).toBe(whole);
      }
    }
  });

  test("property: any chunking of any text gives the whole text's result, overlapping prefixes included", () => {
    const atoms = [
      "glpat-",
      "glrt-",
      "glrtr-",
      "gl",
      "g",
      "_gitlab_session=",
      "?",
      "&",
      "private_token=",
      "PRIVATE_TOKEN=",
      "x-amz-signature=",
      "=",
      "a",
      "Z",
      "9",
      "-",
      ".",
      " ",
      "\n",
      "é",
      "😀",
      "ab",
      "ab:c-",
      "private_tok",
      "x-amz-",
    ];
    const prefixSets = [
      GITLAB_TOKEN_PREFIXES,
      ["glpat-"],
      [...GITLAB_TOKEN_PREFIXES, "gl"],
      ["ab", "ab:c-"],
      ["a", "ab-"],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...prefixSets),
        fc.array(fc.constantFrom(...atoms), { minLength: 1, maxLength: 14 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (prefixes, parts, rawCuts) => {
          const text = parts.join("");
          const length = Buffer.byteLength(text);
          const cuts = rawCuts.map((n) => n % (length + 1));
          expect(maskChunked(text, cuts, prefixes)).toBe(maskWhole(text, prefixes));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("overlapping prefixes: the longest wins, whatever the chunks (the review's cases)", () => {
    expect(maskChunked("ab:c-SECRET x", [3], ["ab", "ab:c-"])).toBe("ab:c-[MASKED] x");
    expect(maskChunked("glpat-X y", [3], [...GITLAB_TOKEN_PREFIXES, "gl"])).toBe("glpat-[MASKED] y");
    expect(maskChunked("url?private_token=S3CR/ET&y", [15], ["ate_"])).toBe("url?private_token=[MASKED]&y");
  });

  test("maskString does not disturb a stream in progress", () => {
    const masker = new PatternMasker(["glpat-"]);
    const first = Buffer.from(masker.push(Buffer.from("x glpat-ab"))).toString();
    expect(masker.maskString("drover's line glpat-zz")).toBe("drover's line glpat-[MASKED]");
    const rest = Buffer.concat([masker.push(Buffer.from("cd y")), masker.flush()]).toString();
    expect(first + rest).toBe("x glpat-[MASKED] y");
  });
});
