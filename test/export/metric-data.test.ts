// metric-data.ts writes the SDK's enum values as constants (so that the agent does not load the SDK at
// start-up): they must be the SDK's own.
import { ValueType } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import t from 'tap';
import { SDK_VALUES } from '../../src/export/metric-data.js';

t.test('the constants are the SDK enum values', async (t) => {
  t.same(SDK_VALUES, {
    double: ValueType.DOUBLE,
    cumulative: AggregationTemporality.CUMULATIVE,
    histogram: DataPointType.HISTOGRAM,
    gauge: DataPointType.GAUGE,
    sum: DataPointType.SUM,
  });
});
