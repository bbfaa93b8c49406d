import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { openApiDocument } from '../../src/http/openapi.js';

type Operation = { responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }> };

const ajv = new Ajv2020({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
ajv.addSchema({ $id: 'openapi', components: openApiDocument.components }, 'openapi');

const compiled = new Map<string, ReturnType<Ajv2020['compile']>>();
const validatorFor = (schema: unknown) => {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    // Local refs (#/components/...) resolve against the registered document.
    const rewritten = JSON.parse(key.replaceAll('"#/components/', '"openapi#/components/'));
    validate = ajv.compile(rewritten);
    compiled.set(key, validate);
  }
  return validate;
};

const templates = Object.keys(openApiDocument.paths).map((template) => ({
  template,
  pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
}));

const resolveResponse = (response: Operation['responses'][string]) => {
  if (!response.$ref) return response;
  const name = response.$ref.split('/').pop()!;
  return (openApiDocument.components.responses as Record<string, Operation['responses'][string]>)[name]!;
};

/**
 * Checks a response against the document: the status must be documented for the operation,
 * the content type must match, and the body must satisfy the schema. Returns the problems found.
 */
export const responseProblems = (method: string, url: string, status: number, contentType: string | null, body: unknown): string[] => {
  const path = new URL(url, 'http://x').pathname;
  // Prefer a literal path (/tasks/stats) over a template (/tasks/{id}).
  const match = templates.filter((t) => t.pattern.test(path)).sort((a, b) => a.template.split('{').length - b.template.split('{').length)[0];
  if (!match) return [];
  const item = (openApiDocument.paths as Record<string, Record<string, unknown>>)[match.template]!;
  const operation = item[method.toLowerCase()] as Operation | undefined;
  if (!operation) return [];
  const documented = operation.responses[String(status)];
  if (!documented) return [`${method} ${match.template}: status ${status} is not documented`];
  const response = resolveResponse(documented);
  if (!response.content) return body === null || body === '' ? [] : [`${method} ${match.template} ${status}: expected no body`];
  const mediaType = (contentType ?? '').split(';')[0]!.trim();
  const media = response.content[mediaType];
  if (!media) return [`${method} ${match.template} ${status}: content type ${mediaType} is not documented`];
  const validate = validatorFor(media.schema);
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${method} ${match.template} ${status}: body${e.instancePath} ${e.message}`);
};
