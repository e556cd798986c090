import { definePart } from '../../lib/parts.ts';
import { importPart, type CloudContext, type CloudPart } from './context.ts';

export interface ReportsPart extends CloudPart {
  /** http://host:port once listening */
  readonly url: string | undefined;
}

/**
 * The warehouse reports API and page (cloud/warehouse/reports-server.ts), when the config has a `reports:`
 * section. It reads `<dataDir>/warehouse.duckdb` read-only when asked, so it needs no other part: the warehouse is
 * written by `edgeloop warehouse refresh`, which it lets lock the file between requests.
 */
export const reportsPart = definePart({
  name: 'reports',
  enabled: (ctx: CloudContext) => ctx.config.reports !== undefined,
  create: async (_needs, ctx: CloudContext): Promise<ReportsPart> => {
    const { ReportsServer } = await importPart('reports', () => import('../warehouse/reports-server.ts'));
    const c = ctx.config.reports!;
    const server = new ReportsServer({
      path: ctx.paths.warehouse,
      host: c.host,
      port: c.port,
      idleCloseMs: c.idleCloseMs,
      logger: ctx.logger.child({ part: 'reports' }),
    });
    return {
      name: 'reports',
      instance: server,
      get url() {
        return server.url;
      },
      start: () => server.start(),
      close: () => server.close(),
      health: () => ({ ok: server.url !== undefined, url: server.url }),
    };
  },
});
