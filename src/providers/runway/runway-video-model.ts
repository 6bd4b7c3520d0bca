import { z } from 'zod';
import type { Connection } from '../adapter-support.ts';
import { requestJson, send } from '../http.ts';
import type { VideoModel } from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { buildRunwayTask } from './build-runway-task.ts';
import { mapRunwayStatus, runwayTaskSchema } from './map-runway-status.ts';
import { decodeRunwayOperation, encodeRunwayOperation } from './runway-operation.ts';

/**
 * Runway video: start() creates a task (text_to_video, or image_to_video when an image is given),
 * status() reads it once, cancel() deletes it. Nothing here waits or polls: the video service does.
 */
const createdTaskSchema = z.object({ id: z.string().min(1) });

function invalidResponse(what: string): UpstreamError {
  return new UpstreamError({
    provider: 'runway',
    kind: 'invalid_response',
    message: `${what} answered with a body that is not a Runway task`,
  });
}

const taskPath = (taskId: string) => `/v1/tasks/${encodeURIComponent(taskId)}`;

export function createRunwayVideoModel(connection: Connection): VideoModel {
  return {
    async start(request) {
      // Refuses bad input before the credential is read or any request is made.
      const task = buildRunwayTask(request);
      const { headers, secrets } = await connection.authorize();
      const { data } = await requestJson(connection.http, {
        method: 'POST',
        path: task.path,
        headers,
        body: task.body,
        secrets,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      const created = createdTaskSchema.safeParse(data);
      if (!created.success) throw invalidResponse(`POST ${task.path}`);
      return {
        operation: encodeRunwayOperation({
          taskId: created.data.id,
          model: task.model,
          durationSeconds: task.durationSeconds,
          resolution: task.resolution,
        }),
        model: task.model,
        warnings: task.warnings,
      };
    },

    async status(operation, { signal } = {}) {
      const decoded = decodeRunwayOperation(operation);
      const { headers, secrets } = await connection.authorize();
      const { data } = await requestJson(connection.http, {
        path: taskPath(decoded.taskId),
        headers,
        secrets,
        ...(signal ? { signal } : {}),
      });
      const task = runwayTaskSchema.safeParse(data);
      if (!task.success) throw invalidResponse('GET /v1/tasks/{id}');
      return mapRunwayStatus(task.data, decoded);
    },

    async cancel(operation) {
      const decoded = decodeRunwayOperation(operation);
      const { headers, secrets } = await connection.authorize();
      try {
        const response = await send(connection.http, {
          method: 'DELETE',
          path: taskPath(decoded.taskId),
          headers: { ...headers, accept: '*/*' },
          secrets,
        });
        await response.body?.cancel();
      } catch (error) {
        // Runway forgets a task once it is cancelled or deleted: a second cancel finds nothing, as asked.
        if (isUpstreamError(error, 'not_found')) return;
        throw error;
      }
    },
  };
}
